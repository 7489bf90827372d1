//! Every database call of identity. The store owns the rows: it maps them to
//! and from the domain's types (converting stored instants only through
//! `keyholder_kit::instant`), and handlers never see a row. Time comes in as
//! a parameter, or from the injected clock the store holds.

mod accounts;
pub mod entities;
mod invitations;
pub mod keys;
pub mod operator;
mod org;
pub mod outbox;
mod partners;
pub mod sealed;
pub mod standing;
mod tenants;
pub(crate) mod throttle;
mod tokens;
mod user_changes;
mod users;

pub use entities::*;
pub use org::{OrgSnapshot, subject_from as org_subject, subject_parts};
pub use throttle::Claim;
pub use users::{Limit, Write};

use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::clock::SharedClock;
use keyholder_kit::idempotency::Ledger;
use keyholder_kit::kek::KekRing;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, PrimaryKeyTrait, QuerySelect, Select,
    TransactionTrait,
};
use std::sync::Arc;
use tokio::sync::Notify;

/// The identity database.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    postgres: bool,
    outbox_wake: Arc<Notify>,
    /// Bumped after every commit, so standing followers look for changes
    /// (a watch never misses a bump, unlike a notification).
    committed: Arc<tokio::sync::watch::Sender<u64>>,
    /// Seals and opens the secrets kept in the tables.
    kek: KekRing,
    /// The service's clock (stamps written without a caller's `now`).
    clock: SharedClock,
}

impl Store {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection, kek: KekRing, clock: SharedClock) -> Self {
        let postgres = keyholder_kit::db::is_postgres(&db);
        Self {
            kek,
            clock,
            db,
            postgres,
            outbox_wake: Arc::new(Notify::new()),
            committed: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// The connection (for transactions spanning several calls).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Changes after every commit (standing followers wait on it).
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Notified after every commit that wrote events.
    pub fn outbox_wake(&self) -> &Arc<Notify> {
        &self.outbox_wake
    }

    /// A transaction that will write. On SQLite it takes the write lock
    /// first: a deferred transaction that reads and then writes fails at once
    /// (SQLITE_BUSY) when another writer committed in between, while one that
    /// starts by writing waits its turn under the busy timeout. That lock
    /// also makes read-check-write sequences in it atomic.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.db.begin().await?;
        if !self.postgres {
            txn.execute_unprepared("UPDATE identity_outbox SET seq = seq WHERE 1 = 0")
                .await?;
        }
        Ok(txn)
    }

    /// Writes `events` into the outbox in `txn`, commits, and wakes the
    /// deliverer: the change and its events are stored together or not at all.
    pub(crate) async fn commit_with(
        &self,
        txn: DatabaseTransaction,
        events: &[Event],
    ) -> Result<(), DbErr> {
        outbox::push(&txn, &self.kek, events).await?;
        txn.commit().await?;
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        if !events.is_empty() {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Inserts a whole model, with its events.
    pub(crate) async fn insert_with<M, A>(&self, model: M, events: &[Event]) -> Result<(), DbErr>
    where
        M: IntoActiveModel<A> + Send,
        A: ActiveModelTrait + ActiveModelBehavior + Send,
    {
        let txn = self.begin_write().await?;
        insert(&txn, model).await?;
        self.commit_with(txn, events).await
    }

    /// Writes every column of a model, with its events.
    pub(crate) async fn save_with<M, A>(&self, model: M, events: &[Event]) -> Result<(), DbErr>
    where
        M: IntoActiveModel<A> + Send,
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        let txn = self.begin_write().await?;
        save(&txn, model).await?;
        self.commit_with(txn, events).await
    }

    /// Inserts `row` unless a row with its `key` exists; the events are
    /// written only when it was added. True when added.
    pub(crate) async fn insert_once<E, A>(
        &self,
        key: <E::PrimaryKey as PrimaryKeyTrait>::ValueType,
        row: E::Model,
        events: &[Event],
    ) -> Result<bool, DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<A> + Send,
        A: ActiveModelTrait + ActiveModelBehavior + Send,
    {
        let txn = self.begin_write().await?;
        if E::find_by_id(key).one(&txn).await?.is_some() {
            return Ok(false);
        }
        insert(&txn, row).await?;
        self.commit_with(txn, events).await?;
        Ok(true)
    }

    /// Deletes the row with `key`; the events are written only when there
    /// was one. True when deleted.
    pub(crate) async fn delete_once<E>(
        &self,
        key: <E::PrimaryKey as PrimaryKeyTrait>::ValueType,
        events: &[Event],
    ) -> Result<bool, DbErr>
    where
        E: EntityTrait,
    {
        let txn = self.begin_write().await?;
        let res = E::delete_by_id(key).exec(&txn).await?;
        if res.rows_affected == 0 {
            return Ok(false);
        }
        self.commit_with(txn, events).await?;
        Ok(true)
    }

    /// The ledger of retry-safe calls (claims and answers by request id).
    pub fn request_ledger(&self, clock: keyholder_kit::clock::SharedClock) -> Ledger {
        Ledger::new(
            self.db.clone(),
            crate::migrations::m0011_request_ids::TABLE,
            clock,
        )
    }
}

/// Inserts a whole model.
pub(crate) async fn insert<C, M, A>(db: &C, model: M) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    M: IntoActiveModel<A>,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
{
    let am = model.into_active_model().reset_all();
    <A::Entity as EntityTrait>::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes every column of a model.
pub(crate) async fn save<C, M, A>(db: &C, model: M) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    M: IntoActiveModel<A>,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    model.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// One page of `q`'s rows in the order `q` sets, each read by `read`. It
/// holds one row more than the page, so the caller's `Page::finish` can tell
/// whether another page follows.
pub(crate) async fn page_of<E, T>(
    db: &DatabaseConnection,
    q: Select<E>,
    page: Page,
    read: fn(E::Model) -> Result<T, Error>,
) -> Result<Vec<T>, Error>
where
    E: EntityTrait,
{
    q.offset(page.offset)
        .limit(page.limit + 1)
        .all(db)
        .await?
        .into_iter()
        .map(read)
        .collect()
}
