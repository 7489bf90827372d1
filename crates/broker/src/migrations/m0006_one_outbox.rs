//! The outbox moves onto the kit's one shape (ADR 0017): `_us` instants
//! (ADR 0016; broker stored milliseconds), `attempts` a BIGINT like every
//! other outbox, lease and backoff columns, a `secret` column (unused here),
//! and `dead_at_us` for what `rejected_at` held. Every row is kept.

use keyholder_kit::outbox::schema;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The old rows in the new shape (milliseconds become microseconds).
const COPY: &str = "SELECT seq, event_id, tenant_id, payload, NULL, traceparent, \
    created_at * 1000, attempts, 0, NULL, NULL, \
    delivered_at * 1000, rejected_at * 1000, last_error \
    FROM broker_outbox_old";

/// Back to the old shape (microseconds become milliseconds).
const COPY_BACK: &str = "INSERT INTO broker_outbox_old \
    (seq, event_id, tenant_id, payload, created_at, delivered_at, attempts, rejected_at, \
     last_error, traceparent) \
    SELECT seq, event_id, tenant_id, payload, created_at_us / 1000, delivered_at_us / 1000, \
    CAST(attempts AS INTEGER), dead_at_us / 1000, last_error, traceparent FROM broker_outbox";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend: the rename, copy and drop happen on
    /// one connection and all together, or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        schema::rebuild(db, &crate::store::outbox::OUTBOX, COPY).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        schema::restore(db, &crate::store::outbox::OUTBOX, OLD_COLUMNS, COPY_BACK).await
    }
}

/// The old table's columns (`{pk}`, `{blob}`: the backend's types).
const OLD_COLUMNS: &str = "seq {pk}, event_id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, payload {blob} NOT NULL, created_at BIGINT NOT NULL, delivered_at BIGINT, attempts INTEGER NOT NULL, rejected_at BIGINT, last_error TEXT NOT NULL DEFAULT '', traceparent TEXT NULL";
