//! The outbox's per-tenant order index keys on the settled columns too, so
//! the relay's "is an earlier row of this tenant still waiting" check reads
//! only unsettled rows instead of every row delivered since the last prune
//! (see `keyholder_kit::outbox::schema`).

use keyholder_kit::outbox::schema;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One connection for the drop and the create: on SQLite another pooled
    /// connection may still see the dropped index in its cached schema.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::reindex_tenant_order(manager.get_connection(), &crate::store::outbox::OUTBOX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::unreindex_tenant_order(manager.get_connection(), &crate::store::outbox::OUTBOX)
            .await
    }
}
