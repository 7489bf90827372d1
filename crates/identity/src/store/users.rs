//! Users: employees, integrators, support agents and the operator.

use super::{Store, department_member, insert, save, user};
use keyholder_kit::paging::Page;
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

impl Store {
    /// Adds a user (and their department memberships).
    pub async fn insert_user(&self, u: user::Model, departments: &[String]) -> Result<(), DbErr> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        let id = u.user_id.clone();
        insert(&txn, u).await?;
        for d in departments {
            insert(
                &txn,
                department_member::Model {
                    department_id: d.clone(),
                    user_id: id.clone(),
                },
            )
            .await?;
        }
        txn.commit().await
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<user::Model>, DbErr> {
        user::Entity::find_by_id(id.to_string()).one(&self.db).await
    }

    /// A user by tenant ("" for none) and e-mail.
    pub async fn user_by_email(
        &self,
        tenant_id: &str,
        email: &str,
    ) -> Result<Option<user::Model>, DbErr> {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await
    }

    /// Writes every column of a user.
    pub async fn save_user(&self, u: user::Model) -> Result<(), DbErr> {
        save(&self.db, u).await
    }

    /// Is there an operator yet?
    pub async fn operator_exists(&self) -> Result<bool, DbErr> {
        Ok(user::Entity::find()
            .filter(user::Column::Kind.eq("operator"))
            .count(&self.db)
            .await?
            > 0)
    }

    /// Active employees of a tenant: the seats in use.
    pub async fn seats_used(&self, tenant_id: &str) -> Result<u64, DbErr> {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Kind.eq("employee"))
            .filter(user::Column::Active.eq(true))
            .count(&self.db)
            .await
    }

    /// Active integrators of one partner in one tenant.
    pub async fn partner_integrators(
        &self,
        tenant_id: &str,
        partner_id: &str,
    ) -> Result<u64, DbErr> {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Kind.eq("integrator"))
            .filter(user::Column::PartnerId.eq(partner_id))
            .filter(user::Column::Active.eq(true))
            .count(&self.db)
            .await
    }

    /// A page of a tenant's users ("" tenant: support agents), oldest first.
    pub async fn list_users(
        &self,
        tenant_id: &str,
        include_inactive: bool,
        page: Page,
    ) -> Result<Vec<user::Model>, DbErr> {
        let mut q = user::Entity::find().filter(user::Column::TenantId.eq(tenant_id));
        if tenant_id.is_empty() {
            q = q.filter(user::Column::Kind.eq("support_agent"));
        }
        if !include_inactive {
            q = q.filter(user::Column::Active.eq(true));
        }
        q.order_by_asc(user::Column::CreatedAt)
            .order_by_asc(user::Column::UserId)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await
    }

    /// Active admin employees of a tenant.
    pub async fn tenant_admins(&self, tenant_id: &str) -> Result<Vec<user::Model>, DbErr> {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Kind.eq("employee"))
            .filter(user::Column::Admin.eq(true))
            .filter(user::Column::Active.eq(true))
            .order_by_asc(user::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    /// Departments a user is directly in.
    pub async fn user_departments(&self, user_id: &str) -> Result<Vec<String>, DbErr> {
        Ok(department_member::Entity::find()
            .filter(department_member::Column::UserId.eq(user_id))
            .order_by_asc(department_member::Column::DepartmentId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| m.department_id)
            .collect())
    }
}
