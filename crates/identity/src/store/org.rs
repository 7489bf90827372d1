//! Departments, roles, role assignments, apps and their access lists: rows ↔
//! domain types.

use super::{
    Store, app, app_access, department, department_member, insert, page_of, role, role_assignment,
};
use crate::domain::authorize::SubjectRef;
use crate::domain::departments::Department;
use crate::domain::directory::App;
use crate::domain::rights::{self, Assignment, Role};
use crate::error::Error;
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// `user` or `department`, as stored.
pub fn subject_parts(s: &SubjectRef) -> (&'static str, &str) {
    match s {
        SubjectRef::User(id) => ("user", id),
        SubjectRef::Department(id) => ("department", id),
    }
}

/// The stored form back.
pub fn subject_from(kind: &str, id: String) -> SubjectRef {
    if kind == "department" {
        SubjectRef::Department(id)
    } else {
        SubjectRef::User(id)
    }
}

/// Everything about a tenant's organisation that `Authorize` needs.
#[derive(Debug, Clone, Default)]
pub struct OrgSnapshot {
    /// Departments.
    pub departments: Vec<Department>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Role assignments.
    pub assignments: Vec<Assignment>,
}

fn department_model(d: &Department) -> department::Model {
    department::Model {
        department_id: d.department_id.clone(),
        tenant_id: d.tenant_id.clone(),
        name: d.name.clone(),
        parent_id: d.parent_id.clone(),
        created_at_us: to_stored(d.created_at),
    }
}

fn department_of(m: department::Model) -> Result<Department, Error> {
    Ok(Department {
        created_at: from_stored(m.created_at_us)?,
        department_id: m.department_id,
        tenant_id: m.tenant_id,
        name: m.name,
        parent_id: m.parent_id,
    })
}

/// The row of a role.
pub(super) fn role_model(r: &Role) -> role::Model {
    role::Model {
        role_id: r.role_id.clone(),
        tenant_id: r.tenant_id.clone(),
        name: r.name.clone(),
        rights: rights::encode(&r.rights),
        built_in: r.built_in,
        created_at_us: to_stored(r.created_at),
    }
}

fn role_of(m: role::Model) -> Result<Role, Error> {
    Ok(Role {
        created_at: from_stored(m.created_at_us)?,
        role_id: m.role_id,
        tenant_id: m.tenant_id,
        name: m.name,
        rights: rights::decode(&m.rights),
        built_in: m.built_in,
    })
}

fn app_of(m: app::Model) -> Result<App, Error> {
    Ok(App {
        installed_at: from_stored(m.installed_at_us)?,
        tenant_id: m.tenant_id,
        code: m.code,
        installed_by: m.installed_by,
    })
}

fn all<M, T>(rows: Vec<M>, f: fn(M) -> Result<T, Error>) -> Result<Vec<T>, Error> {
    rows.into_iter().map(f).collect()
}

impl Store {
    /// Adds a department, with its events.
    pub async fn insert_department(&self, d: &Department, events: &[Event]) -> Result<(), DbErr> {
        self.insert_with(department_model(d), events).await
    }

    /// A department by id.
    pub async fn department(&self, id: &str) -> Result<Option<Department>, Error> {
        department::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(department_of)
            .transpose()
    }

    /// A page of a tenant's departments.
    pub async fn list_departments(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<Vec<Department>, Error> {
        let q = department::Entity::find()
            .filter(department::Column::TenantId.eq(tenant_id))
            .order_by_asc(department::Column::CreatedAtUs)
            .order_by_asc(department::Column::DepartmentId);
        page_of(&self.db, q, page, department_of).await
    }

    /// Puts a user in a department (no-op, and no events, when already
    /// there). True when added.
    pub async fn add_member(
        &self,
        department_id: &str,
        user_id: &str,
        events: &[Event],
    ) -> Result<bool, DbErr> {
        let key = (department_id.to_string(), user_id.to_string());
        let row = department_member::Model {
            department_id: department_id.into(),
            user_id: user_id.into(),
        };
        self.insert_once::<department_member::Entity, _>(key, row, events)
            .await
    }

    /// Takes a user out of a department; false (and no events) if they were
    /// not in it.
    pub async fn remove_member(
        &self,
        department_id: &str,
        user_id: &str,
        events: &[Event],
    ) -> Result<bool, DbErr> {
        let key = (department_id.to_string(), user_id.to_string());
        self.delete_once::<department_member::Entity>(key, events)
            .await
    }

    /// Adds a role, with its events.
    pub async fn insert_role(&self, r: &Role, events: &[Event]) -> Result<(), DbErr> {
        self.insert_with(role_model(r), events).await
    }

    /// Writes a role, with its events.
    pub async fn save_role(&self, r: &Role, events: &[Event]) -> Result<(), DbErr> {
        self.save_with(role_model(r), events).await
    }

    /// A role by id.
    pub async fn role(&self, id: &str) -> Result<Option<Role>, Error> {
        role::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(role_of)
            .transpose()
    }

    /// A role by tenant and name.
    pub async fn role_by_name(&self, tenant_id: &str, name: &str) -> Result<Option<Role>, Error> {
        role::Entity::find()
            .filter(role::Column::TenantId.eq(tenant_id))
            .filter(role::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .map(role_of)
            .transpose()
    }

    /// A page of a tenant's roles, built-in ones first.
    pub async fn list_roles(&self, tenant_id: &str, page: Page) -> Result<Vec<Role>, Error> {
        let q = role::Entity::find()
            .filter(role::Column::TenantId.eq(tenant_id))
            .order_by_desc(role::Column::BuiltIn)
            .order_by_asc(role::Column::CreatedAtUs)
            .order_by_asc(role::Column::Name);
        page_of(&self.db, q, page, role_of).await
    }

    /// Assigns a role (no-op, and no events, when already assigned). True
    /// when assigned now.
    pub async fn assign_role(
        &self,
        tenant_id: &str,
        role_id: &str,
        subject: &SubjectRef,
        events: &[Event],
    ) -> Result<bool, DbErr> {
        let (kind, id) = subject_parts(subject);
        let key = (role_id.to_string(), kind.to_string(), id.to_string());
        let row = role_assignment::Model {
            role_id: role_id.into(),
            subject_kind: kind.into(),
            subject_id: id.into(),
            tenant_id: tenant_id.into(),
        };
        self.insert_once::<role_assignment::Entity, _>(key, row, events)
            .await
    }

    /// Removes an assignment; false (and no events) when there was none.
    pub async fn unassign_role(
        &self,
        role_id: &str,
        subject: &SubjectRef,
        events: &[Event],
    ) -> Result<bool, DbErr> {
        let (kind, id) = subject_parts(subject);
        let key = (role_id.to_string(), kind.to_string(), id.to_string());
        self.delete_once::<role_assignment::Entity>(key, events)
            .await
    }

    /// A tenant's departments, roles and assignments.
    pub async fn org_snapshot(&self, tenant_id: &str) -> Result<OrgSnapshot, Error> {
        let departments = department::Entity::find()
            .filter(department::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?;
        let roles = role::Entity::find()
            .filter(role::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?;
        let assignments = role_assignment::Entity::find()
            .filter(role_assignment::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| Assignment {
                subject: subject_from(&a.subject_kind, a.subject_id),
                role_id: a.role_id,
            })
            .collect();
        Ok(OrgSnapshot {
            departments: all(departments, department_of)?,
            roles: all(roles, role_of)?,
            assignments,
        })
    }

    /// Installs an app, with its events.
    pub async fn insert_app(&self, a: &App, events: &[Event]) -> Result<(), DbErr> {
        let row = app::Model {
            tenant_id: a.tenant_id.clone(),
            code: a.code.clone(),
            installed_by: a.installed_by.clone(),
            installed_at_us: to_stored(a.installed_at),
        };
        self.insert_with(row, events).await
    }

    /// An installed app and its access list.
    pub async fn app(
        &self,
        tenant_id: &str,
        code: &str,
    ) -> Result<Option<(App, Vec<SubjectRef>)>, Error> {
        let Some(a) = app::Entity::find_by_id((tenant_id.to_string(), code.to_string()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let access = access_of(&self.db, &a).await?;
        Ok(Some((app_of(a)?, access)))
    }

    /// A page of a tenant's apps with access lists.
    pub async fn list_apps(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<Vec<(App, Vec<SubjectRef>)>, Error> {
        let apps = app::Entity::find()
            .filter(app::Column::TenantId.eq(tenant_id))
            .order_by_asc(app::Column::Code)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(apps.len());
        for a in apps {
            let access = access_of(&self.db, &a).await?;
            out.push((app_of(a)?, access));
        }
        Ok(out)
    }

    /// Replaces an app's access list.
    pub async fn set_app_access(
        &self,
        tenant_id: &str,
        code: &str,
        access: &[SubjectRef],
        events: &[Event],
    ) -> Result<(), DbErr> {
        let txn = self.begin_write().await?;
        app_access::Entity::delete_many()
            .filter(app_access::Column::TenantId.eq(tenant_id))
            .filter(app_access::Column::Code.eq(code))
            .exec(&txn)
            .await?;
        for s in access {
            let (kind, id) = subject_parts(s);
            insert(
                &txn,
                app_access::Model {
                    tenant_id: tenant_id.into(),
                    code: code.into(),
                    subject_kind: kind.into(),
                    subject_id: id.into(),
                },
            )
            .await?;
        }
        self.commit_with(txn, events).await
    }
}

async fn access_of(
    db: &sea_orm::DatabaseConnection,
    a: &app::Model,
) -> Result<Vec<SubjectRef>, DbErr> {
    Ok(app_access::Entity::find()
        .filter(app_access::Column::TenantId.eq(a.tenant_id.as_str()))
        .filter(app_access::Column::Code.eq(a.code.as_str()))
        .order_by_asc(app_access::Column::SubjectKind)
        .order_by_asc(app_access::Column::SubjectId)
        .all(db)
        .await?
        .into_iter()
        .map(|m| subject_from(&m.subject_kind, m.subject_id))
        .collect())
}
