//! Tenants, users, keys, tokens, departments, roles, apps, partners.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE TABLE identity_signing_keys (
        kid TEXT PRIMARY KEY,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT NULL,
        publish_until BIGINT NULL)",
    "CREATE TABLE identity_tenants (
        tenant_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        locale TEXT NOT NULL,
        seat_limit BIGINT NOT NULL,
        chief_admin_id TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE identity_users (
        user_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        email TEXT NOT NULL,
        display_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        admin BOOLEAN NOT NULL,
        active BOOLEAN NOT NULL,
        password_hash TEXT NOT NULL,
        totp_secret TEXT NULL,
        totp_enabled BOOLEAN NOT NULL,
        totp_pending TEXT NULL,
        partner_id TEXT NULL,
        totp_deadline BIGINT NULL,
        failed_attempts BIGINT NOT NULL,
        locked_until BIGINT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (tenant_id, email))",
    "CREATE INDEX identity_users_partner ON identity_users (tenant_id, partner_id)",
    "CREATE TABLE identity_service_accounts (
        client_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE identity_refresh_families (
        family_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        amr TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT NULL)",
    "CREATE INDEX identity_refresh_families_user ON identity_refresh_families (user_id)",
    "CREATE TABLE identity_refresh_tokens (
        jti TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        spent_at BIGINT NULL)",
    "CREATE TABLE identity_departments (
        department_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        parent_id TEXT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX identity_departments_tenant ON identity_departments (tenant_id)",
    "CREATE TABLE identity_department_members (
        department_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (department_id, user_id))",
    "CREATE INDEX identity_department_members_user ON identity_department_members (user_id)",
    "CREATE TABLE identity_roles (
        role_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        rights TEXT NOT NULL,
        built_in BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (tenant_id, name))",
    "CREATE TABLE identity_role_assignments (
        role_id TEXT NOT NULL,
        subject_kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        PRIMARY KEY (role_id, subject_kind, subject_id))",
    "CREATE INDEX identity_role_assignments_tenant ON identity_role_assignments (tenant_id)",
    "CREATE TABLE identity_apps (
        tenant_id TEXT NOT NULL,
        code TEXT NOT NULL,
        installed_by TEXT NOT NULL,
        installed_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, code))",
    "CREATE TABLE identity_app_access (
        tenant_id TEXT NOT NULL,
        code TEXT NOT NULL,
        subject_kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, code, subject_kind, subject_id))",
    "CREATE TABLE identity_partners (
        partner_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE identity_partner_domains (
        domain TEXT PRIMARY KEY,
        partner_id TEXT NOT NULL)",
    "CREATE TABLE identity_idempotency (
        caller TEXT NOT NULL,
        rpc TEXT NOT NULL,
        request_id TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (caller, rpc, request_id))",
];

const TABLES: &[&str] = &[
    "identity_idempotency",
    "identity_partner_domains",
    "identity_partners",
    "identity_app_access",
    "identity_apps",
    "identity_role_assignments",
    "identity_roles",
    "identity_department_members",
    "identity_departments",
    "identity_refresh_tokens",
    "identity_refresh_families",
    "identity_service_accounts",
    "identity_users",
    "identity_tenants",
    "identity_signing_keys",
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
        for table in TABLES {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
