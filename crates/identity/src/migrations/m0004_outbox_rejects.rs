//! Dead letters in the outbox (`rejected_at`, `last_error`): an event audit
//! refuses as invalid, or one that no longer decodes, is set aside instead of
//! blocking every later event.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE identity_outbox ADD COLUMN rejected_at BIGINT NULL",
    "ALTER TABLE identity_outbox ADD COLUMN last_error TEXT NOT NULL DEFAULT ''",
];

const DOWN: &[&str] = &[
    "ALTER TABLE identity_outbox DROP COLUMN last_error",
    "ALTER TABLE identity_outbox DROP COLUMN rejected_at",
];

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
