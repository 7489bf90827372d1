//! One unit for stored instants (ADR 0016): every instant column of the
//! lifecycle tables becomes `…_us`, microseconds since the epoch, its
//! existing millisecond values multiplied by 1000 so an upgrade keeps its
//! data. The outbox, the webhook delivery tables and the idempotency table
//! are converted by their own migrations.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_instants_in_microseconds"
    }
}

/// (table, old column, new column).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("broker_settings", "updated_at", "updated_at_us"),
    ("broker_requests", "created_at", "created_at_us"),
    ("broker_requests", "expire_at", "expire_at_us"),
    ("broker_requests", "remind_at", "remind_at_us"),
    ("broker_requests", "decided_at", "decided_at_us"),
    ("broker_grants", "created_at", "created_at_us"),
    ("broker_grants", "expire_at", "expire_at_us"),
    ("broker_grants", "ended_at", "ended_at_us"),
    (
        "broker_grants",
        "credential_used_at",
        "credential_used_at_us",
    ),
    ("broker_grants", "ending_notice_for", "ending_notice_for_us"),
    ("broker_sessions", "signed_in_at", "signed_in_at_us"),
    ("broker_sessions", "ended_at", "ended_at_us"),
    ("broker_revocations", "created_at", "created_at_us"),
    ("broker_keys", "created_at", "created_at_us"),
    (
        "broker_helpdesk_connectors",
        "created_at_ms",
        "created_at_us",
    ),
];

/// Renames each column and scales its values: up, old → new times 1000;
/// down, new → old divided by 1000 (NULL stays NULL; SQLite and PostgreSQL
/// both rename in place, keeping indexes).
async fn convert<C: ConnectionTrait>(db: &C, up: bool) -> Result<(), DbErr> {
    for &(table, old, new) in COLUMNS {
        let (from, to, scale) = if up {
            (old, new, "* 1000")
        } else {
            (new, old, "/ 1000")
        };
        db.execute_unprepared(&format!("ALTER TABLE {table} RENAME COLUMN {from} TO {to}"))
            .await?;
        db.execute_unprepared(&format!("UPDATE {table} SET {to} = {to} {scale}"))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        convert(manager.get_connection(), true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        convert(manager.get_connection(), false).await
    }
}
