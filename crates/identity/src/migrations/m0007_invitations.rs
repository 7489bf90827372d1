//! Integrator invitations: the invitations themselves (the acceptance token
//! kept only as its SHA-256), each tenant's policy on who may invite, and an
//! outbox column that holds an invitation's token only until audit has it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE TABLE identity_invitations (
        invitation_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        partner_id TEXT NOT NULL,
        email TEXT NOT NULL,
        display_name TEXT NOT NULL,
        inviter_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        user_id TEXT NULL,
        created_at_secs BIGINT NOT NULL,
        expire_at_secs BIGINT NOT NULL,
        closed_at_secs BIGINT NULL)",
    // The partner limit counts a tenant's pending invitations of one partner.
    "CREATE INDEX identity_invitations_partner ON identity_invitations (tenant_id, partner_id, state)",
    "CREATE INDEX identity_invitations_tenant ON identity_invitations (tenant_id, created_at_secs)",
    // Existing tenants keep the default: every employee may invite.
    "ALTER TABLE identity_tenants ADD COLUMN invitation_policy TEXT NOT NULL DEFAULT 'everyone'",
    // Cleared in the same update that marks the event delivered or set aside.
    "ALTER TABLE identity_outbox ADD COLUMN secret TEXT NULL",
];

const DOWN: &[&str] = &[
    "ALTER TABLE identity_outbox DROP COLUMN secret",
    "ALTER TABLE identity_tenants DROP COLUMN invitation_policy",
    "DROP TABLE IF EXISTS identity_invitations",
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
