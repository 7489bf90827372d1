//! The whole lifecycle's tables. Times are milliseconds since the Unix epoch
//! (BIGINT) so comparisons in conditional updates behave the same on SQLite
//! and PostgreSQL.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

const TABLES: &str = r#"
CREATE TABLE broker_settings (
    tenant_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    request_ttl_secs BIGINT NOT NULL,
    default_grant_secs BIGINT NOT NULL,
    max_grant_secs BIGINT NOT NULL,
    standing_scope TEXT NOT NULL,
    standing_by_id TEXT NOT NULL,
    standing_by_name TEXT NOT NULL,
    standing_by_email TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE broker_requests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    agent_email TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    ticket_ref TEXT NOT NULL,
    reason TEXT NOT NULL,
    scope TEXT NOT NULL,
    duration_secs BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    remind_at BIGINT NOT NULL,
    reminded BOOLEAN NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at BIGINT,
    decision_note TEXT NOT NULL,
    grant_id TEXT NOT NULL
);
CREATE INDEX broker_requests_tenant ON broker_requests (tenant_id, created_at);
CREATE INDEX broker_requests_pending ON broker_requests (state, expire_at);
CREATE TABLE broker_grants (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    agent_email TEXT NOT NULL,
    access_request_id TEXT NOT NULL,
    ticket_ref TEXT NOT NULL,
    reason TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT NOT NULL,
    standing BOOLEAN NOT NULL,
    granted_by_id TEXT NOT NULL,
    granted_by_name TEXT NOT NULL,
    granted_by_email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    ended_at BIGINT,
    revoked_by TEXT NOT NULL,
    credential_hash TEXT,
    credential_used_at BIGINT
);
CREATE INDEX broker_grants_tenant ON broker_grants (tenant_id, created_at);
CREATE INDEX broker_grants_active ON broker_grants (state, expire_at);
CREATE INDEX broker_grants_ticket ON broker_grants (tenant_id, ticket_ref);
CREATE TABLE broker_sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    signed_in_at BIGINT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT NOT NULL,
    refresh_hash TEXT NOT NULL
);
CREATE INDEX broker_sessions_tenant ON broker_sessions (tenant_id, signed_in_at);
CREATE INDEX broker_sessions_grant ON broker_sessions (grant_id);
CREATE UNIQUE INDEX broker_sessions_refresh ON broker_sessions (refresh_hash);
CREATE TABLE broker_outbox (
    seq {AUTO_PK},
    event_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    payload {BLOB} NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    attempts INTEGER NOT NULL
);
CREATE INDEX broker_outbox_pending ON broker_outbox (delivered_at, seq);
CREATE TABLE broker_revocations (
    seq {AUTO_PK},
    grant_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE broker_keys (
    kid TEXT PRIMARY KEY,
    private_key {BLOB} NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE broker_idempotency (
    caller TEXT NOT NULL,
    rpc TEXT NOT NULL,
    request_id TEXT NOT NULL,
    response {BLOB} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (caller, rpc, request_id)
);
"#;

const DROP: &str = "DROP TABLE broker_idempotency; DROP TABLE broker_keys; \
    DROP TABLE broker_revocations; DROP TABLE broker_outbox; DROP TABLE broker_sessions; \
    DROP TABLE broker_grants; DROP TABLE broker_requests; DROP TABLE broker_settings;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sql = match db.get_database_backend() {
            DbBackend::Postgres => TABLES
                .replace("{AUTO_PK}", "BIGSERIAL PRIMARY KEY")
                .replace("{BLOB}", "BYTEA"),
            _ => TABLES
                .replace("{AUTO_PK}", "INTEGER PRIMARY KEY AUTOINCREMENT")
                .replace("{BLOB}", "BLOB"),
        };
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in DROP.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }
}
