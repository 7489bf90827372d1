//! Users: employees, integrators, support agents and the operator.

use super::{Store, department_member, insert, invitation, tenant, user};
use crate::domain::kind_from_str;
use crate::domain::people::{self, User};
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::auth::PrincipalKind;
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

/// The row of a user.
pub(super) fn to_model(u: &User) -> user::Model {
    user::Model {
        user_id: u.user_id.clone(),
        tenant_id: u.tenant_id.clone(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        kind: u.kind.as_str().into(),
        admin: u.admin,
        active: u.active,
        password_hash: u.password_hash.clone(),
        totp_secret: u.totp_secret.clone(),
        totp_enabled: u.totp_enabled,
        totp_pending: u.totp_pending.clone(),
        partner_id: u.partner_id.clone(),
        totp_deadline_us: u.totp_deadline.map(to_stored),
        totp_last_step: u.totp_last_step,
        created_at_us: to_stored(u.created_at),
    }
}

/// A row as the domain sees it.
pub(super) fn to_domain(m: user::Model) -> Result<User, Error> {
    let kind = kind_from_str(&m.kind).ok_or_else(|| {
        Error::internal(format!("user {} has unknown kind {}", m.user_id, m.kind))
    })?;
    Ok(User {
        kind,
        totp_deadline: m.totp_deadline_us.map(from_stored).transpose()?,
        created_at: from_stored(m.created_at_us)?,
        user_id: m.user_id,
        tenant_id: m.tenant_id,
        email: m.email,
        display_name: m.display_name,
        admin: m.admin,
        active: m.active,
        password_hash: m.password_hash,
        totp_secret: m.totp_secret,
        totp_enabled: m.totp_enabled,
        totp_pending: m.totp_pending,
        partner_id: m.partner_id,
        totp_last_step: m.totp_last_step,
    })
}

fn to_domains(rows: Vec<user::Model>) -> Result<Vec<User>, Error> {
    rows.into_iter().map(to_domain).collect()
}

/// The limit a user about to become active counts against.
#[derive(Debug, Clone, Copy)]
pub enum Limit<'a> {
    /// The tenant's licensed seats (employees).
    Seats,
    /// A partner's integrators in the tenant, pending invitations included.
    Partner {
        /// The partner.
        partner_id: &'a str,
        /// Its name, for the refusal.
        partner_name: &'a str,
        /// Now: invitations expired by then hold no place.
        now: DateTime<Utc>,
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
        totp_deadline: Option<DateTime<Utc>>,
    },
}

async fn insert_with_departments<C: ConnectionTrait>(
    conn: &C,
    u: &User,
    departments: &[String],
) -> Result<(), DbErr> {
    let id = u.user_id.clone();
    insert(conn, to_model(u)).await?;
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
        .filter(user::Column::Kind.eq(PrincipalKind::Employee.as_str()))
        .filter(user::Column::Active.eq(true))
        .count(conn)
        .await
}

/// Places taken under a partner's limit: its active integrators in the
/// tenant plus its invitations still pending (unexpired) there.
async fn count_partner_places<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
    partner_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let integrators = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Kind.eq(PrincipalKind::Integrator.as_str()))
        .filter(user::Column::PartnerId.eq(partner_id))
        .filter(user::Column::Active.eq(true))
        .count(conn)
        .await?;
    let invitations = invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::PartnerId.eq(partner_id))
        .filter(invitation::Column::State.eq("pending"))
        .filter(invitation::Column::ExpireAtUs.gt(to_stored(now)))
        .count(conn)
        .await?;
    Ok(integrators + invitations)
}

/// Refuses when `limit` has no place left in tenant `t` (call under its lock).
pub(super) async fn check_limit<C: ConnectionTrait>(
    conn: &C,
    t: &tenant::Model,
    limit: Limit<'_>,
) -> Result<(), Error> {
    match limit {
        Limit::Seats => {
            let used = count_seats(conn, &t.tenant_id).await?;
            people::check_seat_available(used, u64::try_from(t.seat_limit).unwrap_or(0))
        }
        Limit::Partner {
            partner_id,
            partner_name,
            now,
        } => {
            let n = count_partner_places(conn, &t.tenant_id, partner_id, now).await?;
            people::check_partner_limit(n, partner_name)
        }
    }
}

/// Writes a user as `write` says; a taken e-mail is ALREADY_EXISTS.
pub(super) async fn write_user<C: ConnectionTrait>(
    conn: &C,
    u: &User,
    write: Write<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let email = u.email.clone();
    let written = match write {
        Write::Insert(departments) => insert_with_departments(conn, u, departments).await,
        Write::Reactivate { totp_deadline } => {
            super::user_changes::reactivate(conn, &u.user_id, totp_deadline, now).await
        }
    };
    written.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::AlreadyExists(format!(
            "a user with e-mail {email} already exists in this tenant"
        )),
        _ => e.into(),
    })
}

impl Store {
    /// Adds a user (and their department memberships) with its events.
    pub async fn insert_user(
        &self,
        u: &User,
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
        u: &User,
        write: Write<'_>,
        limit: Limit<'_>,
        events: &[Event],
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let t = self.locked_tenant(&txn, &u.tenant_id).await?;
        check_limit(&txn, &t, limit).await?;
        write_user(&txn, u, write, self.now()).await?;
        self.commit_with(txn, events).await?;
        Ok(())
    }

    /// Reads a tenant in `txn` under its lock: `FOR UPDATE` on PostgreSQL;
    /// on SQLite the write lock [`Store::begin_write`] already took. Every
    /// check-then-write against a tenant's limits happens after this.
    pub(super) async fn locked_tenant(
        &self,
        txn: &DatabaseTransaction,
        tenant_id: &str,
    ) -> Result<tenant::Model, Error> {
        let mut q = tenant::Entity::find_by_id(tenant_id.to_string());
        if self.postgres {
            q = q.lock_exclusive();
        }
        q.one(txn)
            .await?
            .ok_or_else(|| Error::not_found(format!("tenant {tenant_id} not found")))
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<User>, Error> {
        user::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// A user by tenant ("" for none) and e-mail.
    pub async fn user_by_email(&self, tenant_id: &str, email: &str) -> Result<Option<User>, Error> {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Re-activates a user outside any limit (support agents), with events.
    pub async fn reactivate_user(
        &self,
        id: &str,
        totp_deadline: Option<DateTime<Utc>>,
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        super::user_changes::reactivate(&txn, id, totp_deadline, self.now()).await?;
        self.commit_with(txn, events).await
    }

    /// Is there an operator yet?
    pub async fn operator_exists(&self) -> Result<bool, DbErr> {
        Ok(user::Entity::find()
            .filter(user::Column::Kind.eq(PrincipalKind::Operator.as_str()))
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
        email: &str,
        include_inactive: bool,
        page: Page,
    ) -> Result<Vec<User>, Error> {
        let mut q = user::Entity::find().filter(user::Column::TenantId.eq(tenant_id));
        if tenant_id.is_empty() {
            q = q.filter(user::Column::Kind.eq(PrincipalKind::SupportAgent.as_str()));
        }
        if !email.is_empty() {
            q = q.filter(user::Column::Email.eq(email));
        }
        if !include_inactive {
            q = q.filter(user::Column::Active.eq(true));
        }
        let rows = q
            .order_by_asc(user::Column::CreatedAtUs)
            .order_by_asc(user::Column::UserId)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        to_domains(rows)
    }

    /// Active admin employees of a tenant.
    pub async fn tenant_admins(&self, tenant_id: &str) -> Result<Vec<User>, Error> {
        let rows = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Kind.eq(PrincipalKind::Employee.as_str()))
            .filter(user::Column::Admin.eq(true))
            .filter(user::Column::Active.eq(true))
            .order_by_asc(user::Column::CreatedAtUs)
            .all(&self.db)
            .await?;
        to_domains(rows)
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
