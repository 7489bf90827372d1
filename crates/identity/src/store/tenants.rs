//! Tenants.

use super::{Store, insert, role, save, tenant, user};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::{DbErr, EntityTrait, QueryOrder, QuerySelect};

impl Store {
    /// Creates a tenant with its built-in roles and chief admin, atomically.
    pub async fn create_tenant(
        &self,
        t: tenant::Model,
        chief: user::Model,
        roles: Vec<role::Model>,
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        insert(&txn, t).await?;
        insert(&txn, chief).await?;
        for r in roles {
            insert(&txn, r).await?;
        }
        self.commit_with(txn, events).await
    }

    /// A tenant by id.
    pub async fn tenant(&self, id: &str) -> Result<Option<tenant::Model>, DbErr> {
        tenant::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
    }

    /// A page of tenants, oldest first.
    pub async fn list_tenants(&self, page: Page) -> Result<Vec<tenant::Model>, DbErr> {
        tenant::Entity::find()
            .order_by_asc(tenant::Column::CreatedAt)
            .order_by_asc(tenant::Column::TenantId)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await
    }

    /// Hands the chief admin's place to `t.chief_admin_id`: the previous
    /// chief's tokens (which say "chief") die everywhere.
    pub async fn transfer_ownership(
        &self,
        t: tenant::Model,
        previous_chief_id: &str,
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        save(&txn, t).await?;
        super::standing::record_user(
            &txn,
            previous_chief_id,
            super::standing::Reason::OwnershipTransferred,
            true,
        )
        .await?;
        self.commit_with(txn, events).await
    }

    /// Writes every column of a tenant, with its events.
    pub async fn save_tenant(&self, t: tenant::Model, events: &[Event]) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        save(&txn, t).await?;
        self.commit_with(txn, events).await
    }
}
