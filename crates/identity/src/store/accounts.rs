//! Service accounts: rows ↔ domain [`ServiceAccount`]s.

use super::{Store, insert, page_of, service_account};
use crate::domain::directory::ServiceAccount;
use crate::error::Error;
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_kit::paging::Page;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};

fn to_model(a: &ServiceAccount) -> service_account::Model {
    service_account::Model {
        client_id: a.client_id.clone(),
        name: a.name.clone(),
        scopes: a.scopes.join(" "),
        secret_hash: a.secret_hash.clone(),
        created_at_us: to_stored(a.created_at),
    }
}

fn to_domain(m: service_account::Model) -> Result<ServiceAccount, Error> {
    Ok(ServiceAccount {
        created_at: from_stored(m.created_at_us)?,
        scopes: m.scopes.split_whitespace().map(str::to_string).collect(),
        client_id: m.client_id,
        name: m.name,
        secret_hash: m.secret_hash,
    })
}

impl Store {
    /// Adds a service account.
    pub async fn insert_service_account(&self, a: &ServiceAccount) -> Result<(), DbErr> {
        insert(&self.db, to_model(a)).await
    }

    /// Adds a service account unless one with its client id exists already
    /// (`INSERT … ON CONFLICT DO NOTHING`): replicas starting together never
    /// fail on each other's insert.
    pub async fn insert_service_account_if_absent(&self, a: &ServiceAccount) -> Result<(), DbErr> {
        service_account::Entity::insert(to_model(a).into_active_model())
            .on_conflict(
                OnConflict::column(service_account::Column::ClientId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// A service account by client id.
    pub async fn service_account(&self, client_id: &str) -> Result<Option<ServiceAccount>, Error> {
        service_account::Entity::find_by_id(client_id.to_string())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// A page of service accounts, oldest first.
    pub async fn list_service_accounts(&self, page: Page) -> Result<Vec<ServiceAccount>, Error> {
        let q = service_account::Entity::find()
            .order_by_asc(service_account::Column::CreatedAtUs)
            .order_by_asc(service_account::Column::ClientId);
        page_of(&self.db, q, page, to_domain).await
    }

    /// Sets the scopes of the built-in account of `service` (named after it,
    /// client id `<service>-…`) to `scopes`.
    pub async fn ensure_builtin_scopes(&self, service: &str, scopes: &str) -> Result<(), DbErr> {
        service_account::Entity::update_many()
            .col_expr(service_account::Column::Scopes, Expr::value(scopes))
            .filter(service_account::Column::Name.eq(service))
            .filter(service_account::Column::ClientId.starts_with(format!("{service}-")))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
