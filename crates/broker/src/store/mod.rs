//! Every sea-orm call of the broker. Each state change runs in one transaction
//! together with its outbox events (and, for ends of access, a revocation row
//! and a PostgreSQL NOTIFY), so a committed change always carries its events
//! and its invalidation.

mod action_batch;
pub mod ending;
pub mod entities;
pub mod grants;
pub mod helpdesk;
pub mod keys;
pub mod listing;
pub mod outbox;
pub mod requests;
pub mod revocations;
pub mod rows;
pub mod sessions;
pub mod settings;
pub mod webhooks;

use crate::cache::AccessCache;
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_proto::audit::v1::Event;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use std::sync::Arc;
use tokio::sync::Notify;

/// What a committed change ended: grants and sessions whose cached state must
/// be dropped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Grant ids.
    pub grants: Vec<String>,
    /// Session ids.
    pub sessions: Vec<String>,
}

impl Ended {
    /// Nothing ended.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty() && self.sessions.is_empty()
    }
}

/// `t` to the microsecond, what a stored instant holds: the time every
/// change is made at, so an answer given at once equals the record read back.
pub fn at_stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// Writes `e` into the outbox in the caller's transaction. The outbox keeps
/// its own (millisecond) unit until its own migration replaces it; this is
/// the one place that converts for it.
pub(crate) async fn push<C: ConnectionTrait>(
    conn: &C,
    e: &Event,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    Ok(outbox::push(conn, e, now.timestamp_millis()).await?)
}

/// The database plus the local effects of a commit.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    postgres: bool,
    cache: Arc<AccessCache>,
    outbox_wake: Arc<Notify>,
    webhook_wake: Arc<Notify>,
    actions: action_batch::ActionQueue,
}

impl Store {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection, cache: Arc<AccessCache>, outbox_wake: Arc<Notify>) -> Self {
        let postgres = keyholder_kit::db::is_postgres(&db);
        Self {
            db,
            postgres,
            cache,
            outbox_wake,
            webhook_wake: Arc::new(Notify::new()),
            actions: action_batch::queue(),
        }
    }

    /// The ledger of retry-safe calls (claims and answers by request id).
    pub fn request_ledger(
        &self,
        clock: keyholder_kit::clock::SharedClock,
    ) -> keyholder_kit::idempotency::Ledger {
        keyholder_kit::idempotency::Ledger::new(
            self.db.clone(),
            crate::migrations::m0008_request_ids::TABLE,
            clock,
        )
    }

    /// The connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// The access cache.
    pub fn cache(&self) -> &Arc<AccessCache> {
        &self.cache
    }

    /// Wakes the outbox deliverer.
    pub fn outbox_wake(&self) -> &Arc<Notify> {
        &self.outbox_wake
    }

    /// Wakes the webhook deliverer.
    pub fn webhook_wake(&self) -> &Arc<Notify> {
        &self.webhook_wake
    }

    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction, Error> {
        let txn = self.db.begin().await?;
        if !self.postgres {
            // Take SQLite's write lock first: a deferred transaction that reads
            // and then writes fails at once (SQLITE_BUSY) if another writer
            // committed in between, while one that starts by writing simply
            // waits its turn under the busy timeout.
            txn.execute_unprepared("UPDATE broker_keys SET kid = kid WHERE 1 = 0")
                .await?;
        }
        Ok(txn)
    }

    /// Commits, then drops what ended from the local cache and wakes the
    /// outbox deliverer.
    pub(crate) async fn commit(
        &self,
        txn: DatabaseTransaction,
        ended: &Ended,
    ) -> Result<(), Error> {
        txn.commit().await?;
        if !ended.is_empty() {
            self.cache.invalidate(ended).await;
        }
        self.outbox_wake.notify_one();
        self.webhook_wake.notify_one();
        Ok(())
    }
}
