//! Standing: each principal's standing version (tokens carry it; a lower one
//! is refused everywhere) and the log of standing changes that broker and
//! audit follow through `WatchStanding`.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE TABLE identity_standing (
        principal_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        disabled BOOLEAN NOT NULL DEFAULT FALSE)",
    "CREATE TABLE identity_standing_log (
        seq {AUTO_PK},
        principal_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        active BOOLEAN NOT NULL,
        reason TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pk = match db.get_database_backend() {
            DbBackend::Postgres => "BIGSERIAL PRIMARY KEY",
            _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        for sql in UP {
            db.execute_unprepared(&sql.replace("{AUTO_PK}", pk)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS identity_standing_log")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS identity_standing")
            .await?;
        Ok(())
    }
}
