//! The event log with its hash chain, signed checkpoints, the signing key and
//! the notification outbox.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    // The log. `content` is the canonical JSON that `hash` covers; the other
    // columns are copies for filtering, checked against it by VerifyChain.
    "CREATE TABLE audit_events (
        event_id TEXT NOT NULL PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        kind TEXT NOT NULL,
        occur_time BIGINT NOT NULL,
        record_time BIGINT NOT NULL,
        agent_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        content TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )",
    "CREATE UNIQUE INDEX audit_events_tenant_sequence ON audit_events (tenant_id, sequence)",
    "CREATE INDEX audit_events_tenant_kind_time ON audit_events (tenant_id, kind, occur_time)",
    "CREATE INDEX audit_events_tenant_session ON audit_events (tenant_id, session_id)",
    // One row per tenant: the end of its chain. Appends update it with a
    // conditional update so two writers can never fork the chain.
    "CREATE TABLE audit_chain_heads (
        tenant_id TEXT NOT NULL PRIMARY KEY,
        sequence BIGINT NOT NULL,
        hash TEXT NOT NULL
    )",
    "CREATE TABLE audit_checkpoints (
        checkpoint_id TEXT NOT NULL PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        hash TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL,
        create_time BIGINT NOT NULL
    )",
    "CREATE UNIQUE INDEX audit_checkpoints_tenant_sequence ON audit_checkpoints (tenant_id, sequence)",
    "CREATE TABLE audit_signing_keys (
        key_id TEXT NOT NULL PRIMARY KEY,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        create_time BIGINT NOT NULL
    )",
    // Who must hear of an event, written with the event; recipients are
    // resolved later (identity may be down at ingest time).
    "CREATE TABLE audit_notification_jobs (
        job_id TEXT NOT NULL PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        audience TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_time BIGINT NOT NULL,
        last_error TEXT NOT NULL,
        create_time BIGINT NOT NULL
    )",
    "CREATE UNIQUE INDEX audit_notification_jobs_event_audience ON audit_notification_jobs (event_id, audience)",
    "CREATE INDEX audit_notification_jobs_due ON audit_notification_jobs (state, next_attempt_time)",
    // One e-mail to one recipient.
    "CREATE TABLE audit_notifications (
        notification_id TEXT NOT NULL PRIMARY KEY,
        job_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body_text TEXT NOT NULL,
        body_html TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        next_attempt_time BIGINT NOT NULL,
        lease_until BIGINT NOT NULL,
        lease_owner TEXT NOT NULL,
        create_time BIGINT NOT NULL,
        send_time BIGINT
    )",
    "CREATE UNIQUE INDEX audit_notifications_job_recipient ON audit_notifications (job_id, recipient)",
    "CREATE INDEX audit_notifications_due ON audit_notifications (state, next_attempt_time)",
    "CREATE INDEX audit_notifications_tenant ON audit_notifications (tenant_id, create_time)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "audit_notifications",
            "audit_notification_jobs",
            "audit_signing_keys",
            "audit_checkpoints",
            "audit_chain_heads",
            "audit_events",
        ] {
            db.execute_unprepared(&format!("DROP TABLE {table}"))
                .await?;
        }
        Ok(())
    }
}
