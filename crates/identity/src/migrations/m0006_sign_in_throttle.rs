//! Sign-in throttling replaces the lock-out: failure counters per account
//! key (a hash of tenant and e-mail, known user or not) and per source
//! address, shared by every identity replica. Locks set by the old rule are
//! lifted, since nothing reads them any more.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE TABLE identity_sign_in_throttle (
        throttle_key TEXT NOT NULL PRIMARY KEY,
        failures BIGINT NOT NULL,
        last_failure_at BIGINT NOT NULL
    )",
    "CREATE INDEX identity_sign_in_throttle_last ON identity_sign_in_throttle (last_failure_at)",
    "UPDATE identity_users SET failed_attempts = 0, locked_until = NULL",
];

const DOWN: &[&str] = &["DROP TABLE identity_sign_in_throttle"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in UP {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in DOWN {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }
}
