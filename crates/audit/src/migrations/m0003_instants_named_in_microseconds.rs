//! One unit for stored instants (ADR 0016): audit already stored
//! microseconds, so its instant columns only gain the `_us` suffix; values
//! stay as they are. SQLite and PostgreSQL both rename in place and keep
//! indexes pointing at the renamed columns.
//!
//! The renaming is idempotent and also runs inside m0002, before its
//! back-fill: that back-fill reads and writes through today's entities,
//! which name the new columns. So every path — a fresh database, one
//! upgraded from m0001, one upgraded from m0002 — ends in the same schema.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, old column, new column).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("audit_events", "occur_time", "occur_time_us"),
    ("audit_events", "record_time", "record_time_us"),
    ("audit_checkpoints", "create_time", "create_time_us"),
    ("audit_signing_keys", "create_time", "create_time_us"),
    (
        "audit_notification_jobs",
        "next_attempt_time",
        "next_attempt_time_us",
    ),
    ("audit_notification_jobs", "create_time", "create_time_us"),
    (
        "audit_notifications",
        "next_attempt_time",
        "next_attempt_time_us",
    ),
    ("audit_notifications", "lease_until", "lease_until_us"),
    ("audit_notifications", "create_time", "create_time_us"),
    ("audit_notifications", "send_time", "send_time_us"),
    ("audit_sign_ins", "sign_in_time", "sign_in_time_us"),
    ("audit_sign_ins", "sign_out_time", "sign_out_time_us"),
];

/// Whether `table` exists and has a column `column` (the names are the
/// constants above, never input).
async fn has_column<C: ConnectionTrait>(db: &C, table: &str, column: &str) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => format!(
            "SELECT COUNT(*) AS n FROM pragma_table_info('{table}') WHERE name = '{column}'"
        ),
        _ => format!(
            "SELECT COUNT(*) AS n FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' \
             AND column_name = '{column}'"
        ),
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("no answer looking for {table}.{column}")))?;
    Ok(row.try_get::<i64>("", "n")? > 0)
}

/// Renames every instant column still under its old name (`up`), or back
/// (`!up`). Columns already renamed, and tables not made yet, are skipped.
pub(crate) async fn rename<C: ConnectionTrait>(db: &C, up: bool) -> Result<(), DbErr> {
    for &(table, old, new) in COLUMNS {
        let (from, to) = if up { (old, new) } else { (new, old) };
        if has_column(db, table, from).await? {
            db.execute_unprepared(&format!("ALTER TABLE {table} RENAME COLUMN {from} TO {to}"))
                .await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rename(manager.get_connection(), true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rename(manager.get_connection(), false).await
    }
}
