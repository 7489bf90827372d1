//! Dead letters in the outbox (`rejected_at`, `last_error`: an event audit
//! refused as invalid is set aside instead of blocking every later one), and
//! at most one active standing grant per agent and tenant (a partial unique
//! index, which SQLite and PostgreSQL both support).

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_outbox_rejects_and_one_standing_grant"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE broker_outbox ADD COLUMN rejected_at BIGINT",
    "ALTER TABLE broker_outbox ADD COLUMN last_error TEXT NOT NULL DEFAULT ''",
    // Duplicates made before this migration: keep the newest, expire the rest
    // (CheckAccess then refuses their sessions as expired).
    "UPDATE broker_grants SET state = 'expired', ended_at = expire_at \
     WHERE standing AND state = 'active' AND id NOT IN ( \
         SELECT MAX(id) FROM broker_grants WHERE standing AND state = 'active' \
         GROUP BY tenant_id, agent_id)",
    "CREATE UNIQUE INDEX broker_grants_one_standing ON broker_grants (tenant_id, agent_id) \
     WHERE standing AND state = 'active'",
];

const DOWN: &[&str] = &[
    "DROP INDEX broker_grants_one_standing",
    "ALTER TABLE broker_outbox DROP COLUMN last_error",
    "ALTER TABLE broker_outbox DROP COLUMN rejected_at",
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
