//! Service accounts.

use super::{Store, insert, service_account};
use keyholder_kit::paging::Page;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

impl Store {
    /// Adds a service account.
    pub async fn insert_service_account(&self, a: service_account::Model) -> Result<(), DbErr> {
        insert(&self.db, a).await
    }

    /// Adds a service account unless one with its client id exists already
    /// (`INSERT … ON CONFLICT DO NOTHING`): replicas starting together never
    /// fail on each other's insert.
    pub async fn insert_service_account_if_absent(
        &self,
        a: service_account::Model,
    ) -> Result<(), DbErr> {
        service_account::Entity::insert(a.into_active_model())
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
    pub async fn service_account(
        &self,
        client_id: &str,
    ) -> Result<Option<service_account::Model>, DbErr> {
        service_account::Entity::find_by_id(client_id.to_string())
            .one(&self.db)
            .await
    }

    /// A page of service accounts, oldest first.
    pub async fn list_service_accounts(
        &self,
        page: Page,
    ) -> Result<Vec<service_account::Model>, DbErr> {
        service_account::Entity::find()
            .order_by_asc(service_account::Column::CreatedAt)
            .order_by_asc(service_account::Column::ClientId)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await
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
