//! Identity's schema. Plain SQL that both SQLite and PostgreSQL accept
//! (TEXT, BIGINT microseconds since the epoch in `_us` columns, BOOLEAN), one file per migration.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_outbox;
mod m0003_totp_last_step;
mod m0004_outbox_rejects;
mod m0005_standing;
mod m0006_sign_in_throttle;
mod m0007_invitations;
mod m0008_outbox_traceparent;
mod m0009_one_outbox;
mod m0010_instants_in_microseconds;
pub(crate) mod m0011_request_ids;
mod m0012_outbox_tenant_index;
mod m0013_outbox_blocker_indexes;
mod m0014_outbox_unread_indexes;

/// Runs identity's migrations, tracked in `identity_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_outbox::Migration),
            Box::new(m0003_totp_last_step::Migration),
            Box::new(m0004_outbox_rejects::Migration),
            Box::new(m0005_standing::Migration),
            Box::new(m0006_sign_in_throttle::Migration),
            Box::new(m0007_invitations::Migration),
            Box::new(m0008_outbox_traceparent::Migration),
            Box::new(m0009_one_outbox::Migration),
            Box::new(m0010_instants_in_microseconds::Migration),
            Box::new(m0011_request_ids::Migration),
            Box::new(m0012_outbox_tenant_index::Migration),
            Box::new(m0013_outbox_blocker_indexes::Migration),
            Box::new(m0014_outbox_unread_indexes::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "identity_migrations".into_iden()
    }
}
