//! The outbox's blocker indexes: the relay's claim finds the rows that hold
//! a tenant back (backing off or leased) by range, once per claim, instead
//! of reading every earlier unsettled row for each candidate (see
//! `keyholder_kit::outbox::schema`).

use keyholder_kit::outbox::schema;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::add_blocker_indexes(manager.get_connection(), &crate::store::outbox::OUTBOX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_blocker_indexes(manager.get_connection(), &crate::store::outbox::OUTBOX).await
    }
}
