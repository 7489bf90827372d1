//! Audit's schema. Plain SQL that both SQLite and PostgreSQL accept (TEXT,
//! BIGINT microseconds since the epoch, INTEGER), one file per migration.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_sign_ins;
mod m0003_instants_named_in_microseconds;

pub use m0002_sign_ins::backfill as backfill_login_history;

/// Runs audit's migrations, tracked in `audit_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_sign_ins::Migration),
            Box::new(m0003_instants_named_in_microseconds::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "audit_migrations".into_iden()
    }
}
