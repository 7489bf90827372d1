//! The outbox moves onto the kit's one shape (ADR 0017): `_us` instants
//! (ADR 0016; identity stored seconds), lease and backoff columns, and
//! `dead_at_us` for what `rejected_at` held. Every row is kept.

use keyholder_kit::outbox::schema;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The old rows in the new shape (seconds become microseconds).
const COPY: &str = "SELECT seq, event_id, tenant_id, payload, secret, traceparent, \
    created_at * 1000000, attempts, 0, NULL, NULL, \
    delivered_at * 1000000, rejected_at * 1000000, last_error \
    FROM identity_outbox_old";

/// Back to the old shape (microseconds become seconds).
const COPY_BACK: &str = "INSERT INTO identity_outbox_old \
    (seq, event_id, tenant_id, payload, secret, traceparent, created_at, attempts, \
     delivered_at, rejected_at, last_error) \
    SELECT seq, event_id, tenant_id, payload, secret, traceparent, created_at_us / 1000000, \
    attempts, delivered_at_us / 1000000, dead_at_us / 1000000, last_error FROM identity_outbox";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        schema::rebuild(db, &crate::store::outbox::OUTBOX, COPY).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (pk, blob) = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        };
        for sql in [
            format!(
                "CREATE TABLE identity_outbox_old (seq {pk}, event_id TEXT NOT NULL UNIQUE, \
                 tenant_id TEXT NOT NULL, payload {blob} NOT NULL, created_at BIGINT NOT NULL, \
                 delivered_at BIGINT NULL, attempts BIGINT NOT NULL, rejected_at BIGINT NULL, \
                 last_error TEXT NOT NULL DEFAULT '', secret TEXT NULL, traceparent TEXT NULL)"
            ),
            COPY_BACK.to_string(),
            "DROP TABLE identity_outbox".to_string(),
            "ALTER TABLE identity_outbox_old RENAME TO identity_outbox".to_string(),
            "CREATE INDEX identity_outbox_pending ON identity_outbox (delivered_at, seq)"
                .to_string(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            db.execute_unprepared(
                "SELECT setval(pg_get_serial_sequence('identity_outbox', 'seq'), \
                 COALESCE((SELECT MAX(seq) FROM identity_outbox), 0) + 1, false)",
            )
            .await?;
        }
        Ok(())
    }
}
