//! Sign-in failure counters (see `domain::throttle`), shared by every
//! identity replica through the database. An attempt is counted as a
//! failure before its credentials are checked, by a compare-and-set on what
//! was read: concurrent guesses cannot all slip through one free slot, and
//! the count is undone when the attempt turns out not to be a failure.

use super::Store;
use crate::domain::throttle::{Counter, Counters};
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_proto::audit::v1::Event;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    TryInsertResult,
};

pub mod sign_in_throttle {
    //! One counter: an account key or a source key.
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_sign_in_throttle")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub throttle_key: String,
        pub failures: i64,
        pub last_failure_at_us: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

use sign_in_throttle::{ActiveModel, Column, Entity};

/// One counter to move from what was read (`seen`) to `next`.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The counter's key.
    pub key: &'a str,
    /// As read (raw, before forgetting), `None` when there was no row.
    pub seen: Option<Counter>,
    /// As it is to be.
    pub next: Counter,
}

/// Moves one counter if it still reads `seen`; true when it did.
async fn compare_and_set<C: ConnectionTrait>(conn: &C, c: &Claim<'_>) -> Result<bool, DbErr> {
    let Some(seen) = c.seen else {
        let row = ActiveModel {
            throttle_key: Set(c.key.to_string()),
            failures: Set(c.next.failures),
            last_failure_at_us: Set(to_stored(c.next.last_failure_at)),
        };
        let res = Entity::insert(row)
            .on_conflict_do_nothing_on([Column::ThrottleKey])
            .exec_without_returning(conn)
            .await?;
        return Ok(matches!(res, TryInsertResult::Inserted(1)));
    };
    let res = Entity::update_many()
        .col_expr(Column::Failures, Expr::value(c.next.failures))
        .col_expr(
            Column::LastFailureAtUs,
            Expr::value(to_stored(c.next.last_failure_at)),
        )
        .filter(Column::ThrottleKey.eq(c.key))
        .filter(Column::Failures.eq(seen.failures))
        .filter(Column::LastFailureAtUs.eq(to_stored(seen.last_failure_at)))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

impl Store {
    /// The counters of a source and an account key, as stored.
    pub async fn sign_in_counters(&self, source: &str, account: &str) -> Result<Counters, Error> {
        let rows = Entity::find()
            .filter(Column::ThrottleKey.is_in([source, account]))
            .all(&self.db)
            .await?;
        let of = |key: &str| -> Result<Option<Counter>, Error> {
            rows.iter()
                .find(|r| r.throttle_key == key)
                .map(|r| {
                    Ok(Counter {
                        failures: r.failures,
                        last_failure_at: from_stored(r.last_failure_at_us)?,
                    })
                })
                .transpose()
        };
        Ok(Counters {
            source: of(source)?,
            account: of(account)?,
        })
    }

    /// Counts an attempt as a failure on every counter of `claims`, all or
    /// none: false (nothing written) when a concurrent attempt moved one of
    /// them since it was read; read again and judge again. When a counter
    /// is new, rows quiet since `forget_before` are pruned.
    pub async fn claim_sign_in_attempt(
        &self,
        claims: &[Claim<'_>],
        forget_before: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let txn = self.begin_write().await?;
        for c in claims {
            if !compare_and_set(&txn, c).await? {
                txn.rollback().await?;
                return Ok(false);
            }
        }
        txn.commit().await?;
        if claims.iter().any(|c| c.seen.is_none()) {
            // Keeps the table to the keys active lately, however many
            // made-up e-mails are tried.
            Entity::delete_many()
                .filter(Column::LastFailureAtUs.lt(to_stored(forget_before)))
                .exec(&self.db)
                .await?;
        }
        Ok(true)
    }

    /// Undoes a claimed failure on `keys`: the attempt was not one (a spent
    /// TOTP code, a deactivated account, a success seen from the source).
    pub async fn refund_sign_in_failure(&self, keys: &[&str]) -> Result<(), DbErr> {
        Entity::update_many()
            .col_expr(Column::Failures, Expr::col(Column::Failures).sub(1))
            .filter(Column::ThrottleKey.is_in(keys.iter().copied()))
            .filter(Column::Failures.gt(0))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets an account's failures: its owner has signed in.
    pub async fn clear_sign_in_failures(&self, account: &str) -> Result<(), DbErr> {
        Entity::delete_many()
            .filter(Column::ThrottleKey.eq(account))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Writes events on their own (a sign-in failure worth reporting).
    pub async fn record_events(&self, events: &[Event]) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        self.commit_with(txn, events).await
    }
}
