//! One unit for every stored instant (ADR 0016): identity's seconds (and the
//! standing log's milliseconds) become microseconds, in columns whose names
//! end in `_us`. Rename, then multiply, so an upgraded database keeps its
//! data. The outbox and idempotency tables are converted with their own
//! replacements. The lock-out columns nothing has read since m0006 go.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, old column, new column, factor to microseconds).
const INSTANTS: &[(&str, &str, &str, i64)] = &[
    (
        "identity_signing_keys",
        "created_at",
        "created_at_us",
        1_000_000,
    ),
    (
        "identity_signing_keys",
        "retired_at",
        "retired_at_us",
        1_000_000,
    ),
    (
        "identity_signing_keys",
        "publish_until",
        "publish_until_us",
        1_000_000,
    ),
    ("identity_tenants", "created_at", "created_at_us", 1_000_000),
    ("identity_users", "created_at", "created_at_us", 1_000_000),
    (
        "identity_users",
        "totp_deadline",
        "totp_deadline_us",
        1_000_000,
    ),
    (
        "identity_service_accounts",
        "created_at",
        "created_at_us",
        1_000_000,
    ),
    (
        "identity_refresh_families",
        "created_at",
        "created_at_us",
        1_000_000,
    ),
    (
        "identity_refresh_families",
        "revoked_at",
        "revoked_at_us",
        1_000_000,
    ),
    (
        "identity_refresh_tokens",
        "expires_at",
        "expires_at_us",
        1_000_000,
    ),
    (
        "identity_refresh_tokens",
        "spent_at",
        "spent_at_us",
        1_000_000,
    ),
    (
        "identity_departments",
        "created_at",
        "created_at_us",
        1_000_000,
    ),
    ("identity_roles", "created_at", "created_at_us", 1_000_000),
    (
        "identity_apps",
        "installed_at",
        "installed_at_us",
        1_000_000,
    ),
    (
        "identity_partners",
        "created_at",
        "created_at_us",
        1_000_000,
    ),
    (
        "identity_invitations",
        "created_at_secs",
        "created_at_us",
        1_000_000,
    ),
    (
        "identity_invitations",
        "expire_at_secs",
        "expire_at_us",
        1_000_000,
    ),
    (
        "identity_invitations",
        "closed_at_secs",
        "closed_at_us",
        1_000_000,
    ),
    (
        "identity_standing_log",
        "created_at_ms",
        "created_at_us",
        1_000,
    ),
    (
        "identity_sign_in_throttle",
        "last_failure_at",
        "last_failure_at_us",
        1_000_000,
    ),
];

/// Unused since sign-in throttling replaced the lock-out (m0006 cleared them).
const DEAD_USER_COLUMNS: &[(&str, &str)] = &[
    ("failed_attempts", "BIGINT NOT NULL DEFAULT 0"),
    ("locked_until", "BIGINT NULL"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, old, new, factor) in INSTANTS {
            db.execute_unprepared(&format!("ALTER TABLE {table} RENAME COLUMN {old} TO {new}"))
                .await?;
            db.execute_unprepared(&format!("UPDATE {table} SET {new} = {new} * {factor}"))
                .await?;
        }
        for (column, _) in DEAD_USER_COLUMNS {
            db.execute_unprepared(&format!("ALTER TABLE identity_users DROP COLUMN {column}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (column, ty) in DEAD_USER_COLUMNS {
            db.execute_unprepared(&format!(
                "ALTER TABLE identity_users ADD COLUMN {column} {ty}"
            ))
            .await?;
        }
        for (table, old, new, factor) in INSTANTS.iter().rev() {
            db.execute_unprepared(&format!("UPDATE {table} SET {new} = {new} / {factor}"))
                .await?;
            db.execute_unprepared(&format!("ALTER TABLE {table} RENAME COLUMN {new} TO {old}"))
                .await?;
        }
        Ok(())
    }
}
