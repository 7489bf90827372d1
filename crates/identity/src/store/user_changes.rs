//! Targeted writes to a user row. Each one sets only the columns its
//! operation owns, with atomic expressions, never a whole model read earlier:
//! a sign-in spends a long password check between its read and its write, and
//! writing the whole (stale) row back would undo an admin's deactivation or
//! dismissal committed meanwhile.

use super::standing::{self, Reason};
use super::{Store, refresh_family, user};
use chrono::{DateTime, Utc};
use keyholder_kit::instant::to_stored;
use keyholder_proto::audit::v1::Event;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Sets `cols` on the user `id` where `extra` also holds; the rows changed.
async fn update_user<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    cols: Vec<(user::Column, SimpleExpr)>,
    extra: Condition,
) -> Result<u64, DbErr> {
    let mut q = user::Entity::update_many();
    for (col, value) in cols {
        q = q.col_expr(col, value);
    }
    Ok(q.filter(user::Column::UserId.eq(id))
        .filter(extra)
        .exec(conn)
        .await?
        .rows_affected)
}

/// Only when the step is later than the last one accepted.
fn step_is_fresh(step: i64) -> Condition {
    Condition::any()
        .add(user::Column::TotpLastStep.is_null())
        .add(user::Column::TotpLastStep.lt(step))
}

fn null_i64() -> SimpleExpr {
    Expr::value(Option::<i64>::None)
}

fn null_text() -> SimpleExpr {
    Expr::value(Option::<String>::None)
}

impl Store {
    /// Takes a TOTP time step for a sign-in. False (nothing written) when
    /// that step or a later one was already used: the code is spent.
    pub async fn spend_totp_step(&self, id: &str, step: i64) -> Result<bool, DbErr> {
        let cols = vec![(user::Column::TotpLastStep, Expr::value(step))];
        Ok(update_user(&self.db, id, cols, step_is_fresh(step)).await? == 1)
    }

    /// Starts (or restarts) a TOTP enrolment. False when TOTP is already on.
    pub async fn begin_totp(&self, id: &str, pending: &str) -> Result<bool, DbErr> {
        let cols = vec![(user::Column::TotpPending, Expr::value(pending.to_string()))];
        let off = Condition::all().add(user::Column::TotpEnabled.eq(false));
        Ok(update_user(&self.db, id, cols, off).await? == 1)
    }

    /// Turns TOTP on with the pending secret whose code of `step` was shown,
    /// with its events. False when nothing changed: TOTP got turned on
    /// meanwhile, the enrolment was restarted, or the step was already used.
    pub async fn confirm_totp(
        &self,
        id: &str,
        pending: &str,
        step: i64,
        events: &[Event],
    ) -> Result<bool, DbErr> {
        let txn = self.begin_write().await?;
        let cols = vec![
            (user::Column::TotpSecret, Expr::value(pending.to_string())),
            (user::Column::TotpPending, null_text()),
            (user::Column::TotpEnabled, Expr::value(true)),
            (user::Column::TotpLastStep, Expr::value(step)),
        ];
        let when = Condition::all()
            .add(user::Column::TotpEnabled.eq(false))
            .add(user::Column::TotpPending.eq(pending))
            .add(step_is_fresh(step));
        if update_user(&txn, id, cols, when).await? == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        self.commit_with(txn, events).await?;
        Ok(true)
    }

    /// Turns TOTP off (secret, enrolment and last step cleared), with events.
    pub async fn disable_totp(&self, id: &str, events: &[Event]) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        let cols = vec![
            (user::Column::TotpEnabled, Expr::value(false)),
            (user::Column::TotpSecret, null_text()),
            (user::Column::TotpPending, null_text()),
            (user::Column::TotpLastStep, null_i64()),
        ];
        update_user(&txn, id, cols, Condition::all()).await?;
        self.commit_with(txn, events).await
    }

    /// Appoints or dismisses an admin: only the `admin` column, with events.
    pub async fn set_admin(&self, id: &str, admin: bool, events: &[Event]) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        let cols = vec![(user::Column::Admin, Expr::value(admin))];
        update_user(&txn, id, cols, Condition::all()).await?;
        if !admin {
            standing::record_user(&txn, id, Reason::Demoted, true, self.now()).await?;
        }
        self.commit_with(txn, events).await
    }

    /// Deactivates a user (only `active`) and revokes every refresh family
    /// of theirs, with the events, atomically.
    pub async fn deactivate_user(
        &self,
        id: &str,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        let cols = vec![(user::Column::Active, Expr::value(false))];
        update_user(&txn, id, cols, Condition::all()).await?;
        standing::record_user(&txn, id, Reason::Deactivated, false, now).await?;
        refresh_family::Entity::update_many()
            .col_expr(
                refresh_family::Column::RevokedAtUs,
                Expr::value(to_stored(now)),
            )
            .filter(refresh_family::Column::UserId.eq(id))
            .filter(refresh_family::Column::RevokedAtUs.is_null())
            .exec(&txn)
            .await?;
        self.commit_with(txn, events).await
    }
}

/// Re-activates a user in `conn` at `now`: active again, and a fresh 2FA
/// deadline when one is given. Only those columns.
pub(super) async fn reactivate<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    totp_deadline: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut cols = vec![(user::Column::Active, Expr::value(true))];
    if let Some(deadline) = totp_deadline {
        cols.push((
            user::Column::TotpDeadlineUs,
            Expr::value(to_stored(deadline)),
        ));
    }
    update_user(conn, id, cols, Condition::all()).await?;
    standing::record_user(conn, id, Reason::Reactivated, true, now).await
}
