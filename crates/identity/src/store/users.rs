//! Users: employees, integrators, support agents and the operator.

use super::{Store, department_member, insert, tenant, user};
use crate::domain::people;
use crate::error::Error;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};

/// The limit a user about to become active counts against.
#[derive(Debug, Clone, Copy)]
pub enum Limit<'a> {
    /// The tenant's licensed seats (employees).
    Seats,
    /// A partner's integrators in the tenant.
    Partner {
        /// The partner.
        partner_id: &'a str,
        /// Its name, for the refusal.
        partner_name: &'a str,
    },
}

/// How the user is written once the limit allows it.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// A new user, put in these departments.
    Insert(&'a [String]),
    /// An existing user re-activated (only its activity and, when given, a
    /// fresh 2FA deadline are written).
    Reactivate {
        /// The new 2FA deadline, if any.
        totp_deadline: Option<i64>,
    },
}

async fn insert_with_departments<C: ConnectionTrait>(
    conn: &C,
    u: user::Model,
    departments: &[String],
) -> Result<(), DbErr> {
    let id = u.user_id.clone();
    insert(conn, u).await?;
    for d in departments {
        insert(
            conn,
            department_member::Model {
                department_id: d.clone(),
                user_id: id.clone(),
            },
        )
        .await?;
    }
    Ok(())
}

async fn count_seats<C: ConnectionTrait>(conn: &C, tenant_id: &str) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Kind.eq("employee"))
        .filter(user::Column::Active.eq(true))
        .count(conn)
        .await
}

async fn count_partner_integrators<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
    partner_id: &str,
) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Kind.eq("integrator"))
        .filter(user::Column::PartnerId.eq(partner_id))
        .filter(user::Column::Active.eq(true))
        .count(conn)
        .await
}

impl Store {
    /// Adds a user (and their department memberships) with its events.
    pub async fn insert_user(
        &self,
        u: user::Model,
        departments: &[String],
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        insert_with_departments(&txn, u, departments).await?;
        self.commit_with(txn, events).await
    }

    /// Makes `u` an active user of its tenant only if `limit` still allows
    /// one more: the count, the check and the write happen under the
    /// tenant's lock (its row `FOR UPDATE` on PostgreSQL, the write lock on
    /// SQLite), so concurrent calls can never overshoot the limit.
    pub async fn write_within_limit(
        &self,
        u: user::Model,
        write: Write<'_>,
        limit: Limit<'_>,
        events: &[Event],
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let mut q = tenant::Entity::find_by_id(u.tenant_id.clone());
        if self.postgres {
            q = q.lock_exclusive();
        }
        let t = q
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found(format!("tenant {} not found", u.tenant_id)))?;
        match limit {
            Limit::Seats => {
                let used = count_seats(&txn, &t.tenant_id).await?;
                people::check_seat_available(used, u64::try_from(t.seat_limit).unwrap_or(0))?;
            }
            Limit::Partner {
                partner_id,
                partner_name,
            } => {
                let n = count_partner_integrators(&txn, &t.tenant_id, partner_id).await?;
                people::check_partner_limit(n, partner_name)?;
            }
        }
        let email = u.email.clone();
        let written = match write {
            Write::Insert(departments) => insert_with_departments(&txn, u, departments).await,
            Write::Reactivate { totp_deadline } => {
                super::user_changes::reactivate(&txn, &u.user_id, totp_deadline).await
            }
        };
        if let Err(e) = written {
            return Err(match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Error::AlreadyExists(format!(
                    "a user with e-mail {email} already exists in this tenant"
                )),
                _ => e.into(),
            });
        }
        self.commit_with(txn, events).await?;
        Ok(())
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

    /// Re-activates a user outside any limit (support agents), with events.
    pub async fn reactivate_user(
        &self,
        id: &str,
        totp_deadline: Option<i64>,
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        super::user_changes::reactivate(&txn, id, totp_deadline).await?;
        self.commit_with(txn, events).await
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
        count_seats(&self.db, tenant_id).await
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
