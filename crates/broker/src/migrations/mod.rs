//! Broker's schema. Every table is named `broker_…`; the migrations table too,
//! so the three services can share one PostgreSQL database.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_outbox_rejects_and_one_standing_grant;
mod m0003_grant_ending_notice;
mod m0004_outbox_traceparent;
mod m0005_helpdesk;
mod m0006_one_outbox;
mod m0007_instants_in_microseconds;
pub(crate) mod m0008_request_ids;
mod m0009_outbox_tenant_index;
mod m0010_outbox_blocker_indexes;
mod m0011_outbox_unread_indexes;

/// Runs broker's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_outbox_rejects_and_one_standing_grant::Migration),
            Box::new(m0003_grant_ending_notice::Migration),
            Box::new(m0004_outbox_traceparent::Migration),
            Box::new(m0005_helpdesk::Migration),
            Box::new(m0006_one_outbox::Migration),
            Box::new(m0007_instants_in_microseconds::Migration),
            Box::new(m0008_request_ids::Migration),
            Box::new(m0009_outbox_tenant_index::Migration),
            Box::new(m0010_outbox_blocker_indexes::Migration),
            Box::new(m0011_outbox_unread_indexes::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "broker_migrations".into_iden()
    }
}
