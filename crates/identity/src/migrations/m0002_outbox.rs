//! The transactional outbox of identity changes for audit.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE TABLE identity_outbox (
        seq {AUTO_PK},
        event_id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL,
        payload {BLOB} NOT NULL,
        created_at BIGINT NOT NULL,
        delivered_at BIGINT NULL,
        attempts BIGINT NOT NULL)",
    "CREATE INDEX identity_outbox_pending ON identity_outbox (delivered_at, seq)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (pk, blob) = match db.get_database_backend() {
            DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        };
        for sql in UP {
            db.execute_unprepared(&sql.replace("{AUTO_PK}", pk).replace("{BLOB}", blob))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS identity_outbox")
            .await?;
        Ok(())
    }
}
