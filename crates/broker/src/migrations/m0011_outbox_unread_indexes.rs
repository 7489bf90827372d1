//! The outbox drops the two indexes no query reads any more: the per-tenant
//! order index (the claim finds held-back rows through the blocker indexes)
//! and the one on `delivered_at_us` alone (the prune reads the unsettled
//! index's first column). Every insert and every delivery wrote both.

use keyholder_kit::outbox::schema;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_unread_indexes(manager.get_connection(), &crate::store::outbox::OUTBOX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::restore_unread_indexes(manager.get_connection(), &crate::store::outbox::OUTBOX)
            .await
    }
}
