//! Tenants: rows ↔ domain [`Tenant`]s.

use super::org::role_model;
use super::users::to_model as user_model;
use super::{Store, insert, page_of, save, tenant};
use crate::domain::directory::Tenant;
use crate::domain::invitations::Policy;
use crate::domain::people::User;
use crate::domain::rights::Role;
use crate::error::Error;
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::{DbErr, EntityTrait, QueryOrder};

/// The row of a tenant.
fn to_model(t: &Tenant) -> tenant::Model {
    tenant::Model {
        tenant_id: t.tenant_id.clone(),
        name: t.name.clone(),
        locale: t.locale.clone(),
        seat_limit: t.seat_limit,
        chief_admin_id: t.chief_admin_id.clone(),
        created_at_us: to_stored(t.created_at),
        invitation_policy: t.invitation_policy.as_str().into(),
    }
}

/// A row as the domain sees it.
pub(super) fn to_domain(m: tenant::Model) -> Result<Tenant, Error> {
    Ok(Tenant {
        created_at: from_stored(m.created_at_us)?,
        invitation_policy: Policy::parse(&m.invitation_policy),
        tenant_id: m.tenant_id,
        name: m.name,
        locale: m.locale,
        seat_limit: m.seat_limit,
        chief_admin_id: m.chief_admin_id,
    })
}

impl Store {
    /// Creates a tenant with its built-in roles and chief admin, atomically.
    pub async fn create_tenant(
        &self,
        t: &Tenant,
        chief: &User,
        roles: &[Role],
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        insert(&txn, to_model(t)).await?;
        insert(&txn, user_model(chief)).await?;
        for r in roles {
            insert(&txn, role_model(r)).await?;
        }
        self.commit_with(txn, events).await
    }

    /// A tenant by id.
    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error> {
        tenant::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// A page of tenants, oldest first.
    pub async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>, Error> {
        let q = tenant::Entity::find()
            .order_by_asc(tenant::Column::CreatedAtUs)
            .order_by_asc(tenant::Column::TenantId);
        page_of(&self.db, q, page, to_domain).await
    }

    /// Hands the chief admin's place to `t.chief_admin_id`: the previous
    /// chief's tokens (which say "chief") die everywhere.
    pub async fn transfer_ownership(
        &self,
        t: &Tenant,
        previous_chief_id: &str,
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        save(&txn, to_model(t)).await?;
        super::standing::record_user(
            &txn,
            previous_chief_id,
            super::standing::Reason::OwnershipTransferred,
            true,
            self.now(),
        )
        .await?;
        self.commit_with(txn, events).await
    }

    /// Writes every column of a tenant, with its events.
    pub async fn save_tenant(&self, t: &Tenant, events: &[Event]) -> Result<(), DbErr> {
        self.save_with(to_model(t), events).await
    }
}
