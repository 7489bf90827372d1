//! Standing versions and the standing log broker and audit follow. Every
//! change that lowers a principal's standing bumps its version in the same
//! transaction as the change itself, so a token issued before it can never
//! be honoured after it, here or anywhere else.

use super::{
    Store, refresh_family, service_account, standing_log, standing_version as standing, user,
};
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// What changed a principal's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Dismissed.
    Deactivated,
    /// Lost the admin role.
    Demoted,
    /// Handed over the chief admin's place.
    OwnershipTransferred,
    /// A disabled service account.
    ServiceAccountDisabled,
    /// Signed out everywhere.
    SignedOutEverywhere,
    /// Re-hired: active again, but tokens from before stay dead.
    Reactivated,
}

impl Reason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deactivated => "deactivated",
            Self::Demoted => "demoted",
            Self::OwnershipTransferred => "ownership-transferred",
            Self::ServiceAccountDisabled => "service-account-disabled",
            Self::SignedOutEverywhere => "signed-out-everywhere",
            Self::Reactivated => "reactivated",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Deactivated,
            Self::Demoted,
            Self::OwnershipTransferred,
            Self::ServiceAccountDisabled,
            Self::SignedOutEverywhere,
            Self::Reactivated,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Whether tokens issued before the change must die. A re-hire does not
    /// bump: the dismissal already did, and that keeps old tokens dead.
    fn bumps(self) -> bool {
        self != Self::Reactivated
    }
}

/// One change of standing, as followers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the log (commit order).
    pub seq: i64,
    /// User id or client id.
    pub principal_id: String,
    /// The standing version after the change.
    pub version: i64,
    /// Whether the principal is still active.
    pub active: bool,
    /// Why (`None`: a reason this release does not know).
    pub reason: Option<Reason>,
    /// Tenant, if any.
    pub tenant_id: String,
    /// Principal kind (snake case).
    pub kind: String,
    /// When it was made.
    pub at: DateTime<Utc>,
}

/// Whose standing changes.
#[derive(Debug, Clone)]
pub struct Who {
    /// User id or client id.
    pub id: String,
    /// Principal kind (snake case).
    pub kind: String,
    /// Tenant, if any.
    pub tenant_id: String,
}

impl Who {
    /// A service account.
    pub fn service_account(client_id: &str) -> Self {
        Self {
            id: client_id.to_string(),
            kind: "service_account".into(),
            tenant_id: String::new(),
        }
    }
}

/// The user `id` as a standing subject, if it exists.
pub(crate) async fn user_who<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<Who>, DbErr> {
    Ok(user::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .map(|u| Who {
            id: u.user_id,
            kind: u.kind,
            tenant_id: u.tenant_id,
        }))
}

/// Records a standing change in `conn` (the caller's transaction): bumps the
/// version when the change lowers standing and appends to the log. On
/// PostgreSQL the log is locked first so sequence order is commit order and
/// a follower reading "everything after n" can never skip a late commit.
///
/// `now` (the service's clock, which also stamps tokens' `iat`) is when the
/// change was made; followers use it only to tell which sessions began
/// before a dismissal.
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    who: &Who,
    reason: Reason,
    active: bool,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        conn.execute_unprepared("LOCK TABLE identity_standing_log IN EXCLUSIVE MODE")
            .await?;
    }
    let current = standing::Entity::find_by_id(who.id.clone())
        .one(conn)
        .await?;
    let version = current.as_ref().map(|s| s.version).unwrap_or(0) + i64::from(reason.bumps());
    let disabled =
        reason == Reason::ServiceAccountDisabled || current.as_ref().is_some_and(|s| s.disabled);
    match current {
        Some(_) => {
            standing::Entity::update_many()
                .col_expr(standing::Column::Version, Expr::value(version))
                .col_expr(standing::Column::Disabled, Expr::value(disabled))
                .filter(standing::Column::PrincipalId.eq(who.id.as_str()))
                .exec(conn)
                .await?;
        }
        None => {
            standing::ActiveModel {
                principal_id: Set(who.id.clone()),
                version: Set(version),
                disabled: Set(disabled),
            }
            .insert(conn)
            .await?;
        }
    }
    standing_log::ActiveModel {
        principal_id: Set(who.id.clone()),
        version: Set(version),
        active: Set(active && !disabled),
        reason: Set(reason.as_str().to_string()),
        tenant_id: Set(who.tenant_id.clone()),
        kind: Set(who.kind.clone()),
        created_at_us: Set(to_stored(now)),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Records a change for the user `id` (nothing if no such user).
pub(crate) async fn record_user<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    reason: Reason,
    active: bool,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    match user_who(conn, id).await? {
        Some(who) => record(conn, &who, reason, active, now).await,
        None => Ok(()),
    }
}

impl Store {
    /// Disables a service account: its tokens die everywhere and it gets no
    /// new ones. False when there is no such account.
    pub async fn disable_service_account(&self, client_id: &str) -> Result<bool, DbErr> {
        let txn = self.begin_write().await?;
        if service_account::Entity::find_by_id(client_id.to_string())
            .one(&txn)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let who = Who::service_account(client_id);
        record(
            &txn,
            &who,
            Reason::ServiceAccountDisabled,
            false,
            self.now(),
        )
        .await?;
        self.commit_with(txn, &[]).await?;
        Ok(true)
    }

    /// Signs a user out everywhere: every refresh family ends and every
    /// access token already issued dies at every service.
    pub async fn sign_out_everywhere(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        refresh_family::Entity::update_many()
            .col_expr(
                refresh_family::Column::RevokedAtUs,
                Expr::value(to_stored(now)),
            )
            .filter(refresh_family::Column::UserId.eq(user_id))
            .filter(refresh_family::Column::RevokedAtUs.is_null())
            .exec(&txn)
            .await?;
        record_user(&txn, user_id, Reason::SignedOutEverywhere, true, now).await?;
        self.commit_with(txn, &[]).await
    }

    /// A principal's standing version and whether it is disabled.
    pub async fn standing_of(&self, principal_id: &str) -> Result<(u64, bool), DbErr> {
        Ok(standing::Entity::find_by_id(principal_id.to_string())
            .one(self.db())
            .await?
            .map(|s| (u64::try_from(s.version).unwrap_or(0), s.disabled))
            .unwrap_or((0, false)))
    }

    /// Standing changes after `after`, oldest first, at most `limit`.
    pub async fn standing_changes(&self, after: i64, limit: u64) -> Result<Vec<Change>, Error> {
        standing_log::Entity::find()
            .filter(standing_log::Column::Seq.gt(after))
            .order_by_asc(standing_log::Column::Seq)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| {
                Ok(Change {
                    at: from_stored(r.created_at_us)?,
                    seq: r.seq,
                    principal_id: r.principal_id,
                    version: r.version,
                    active: r.active,
                    reason: Reason::parse(&r.reason),
                    tenant_id: r.tenant_id,
                    kind: r.kind,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_only_reactivation_keeps_the_version() {
        for r in [
            Reason::Deactivated,
            Reason::Demoted,
            Reason::OwnershipTransferred,
            Reason::ServiceAccountDisabled,
            Reason::SignedOutEverywhere,
            Reason::Reactivated,
        ] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert_eq!(r.bumps(), r != Reason::Reactivated);
        }
        assert_eq!(Reason::parse("promoted"), None);
    }
}
