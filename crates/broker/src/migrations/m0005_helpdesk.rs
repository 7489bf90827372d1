//! Helpdesk connectors (inbound webhooks, their secrets sealed, and the
//! delivery ids seen within the replay window) and outbound webhook
//! subscriptions with their per-subscription delivery queue.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_helpdesk"
    }
}

const TABLES: &str = r#"
CREATE TABLE broker_helpdesk_connectors (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    display_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    tenant_field TEXT NOT NULL,
    ticket_field TEXT NOT NULL,
    status_field TEXT NOT NULL,
    agent_email_field TEXT NOT NULL,
    subject_field TEXT NOT NULL,
    tags_field TEXT NOT NULL,
    request_tag TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE broker_helpdesk_receipts (
    connector_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (connector_id, delivery_id)
);
CREATE INDEX broker_helpdesk_receipts_age ON broker_helpdesk_receipts (received_at_ms);
CREATE TABLE broker_webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE broker_webhook_deliveries (
    seq {AUTO_PK},
    subscription_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    leased_until_ms BIGINT,
    delivered_at_ms BIGINT,
    failed_at_ms BIGINT,
    last_error TEXT NOT NULL
);
CREATE UNIQUE INDEX broker_webhook_deliveries_once ON broker_webhook_deliveries (subscription_id, event_id);
CREATE INDEX broker_webhook_deliveries_pending ON broker_webhook_deliveries (delivered_at_ms, failed_at_ms, seq)
"#;

const DROP: &[&str] = &[
    "DROP TABLE broker_webhook_deliveries",
    "DROP TABLE broker_webhook_subscriptions",
    "DROP TABLE broker_helpdesk_receipts",
    "DROP TABLE broker_helpdesk_connectors",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sql = match db.get_database_backend() {
            DbBackend::Postgres => TABLES.replace("{AUTO_PK}", "BIGSERIAL PRIMARY KEY"),
            _ => TABLES.replace("{AUTO_PK}", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        };
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in DROP {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }
}
