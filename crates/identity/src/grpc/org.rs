//! Departments, roles and role assignments.

use super::Api;
use super::convert::{department_pb, rights_from_pb, role_pb, subject_from_pb};
use crate::domain::authorize::SubjectRef;
use crate::domain::departments::{Department, tree_of, would_cycle};
use crate::domain::rights::{self, ADMIN_ROLE, INTEGRATOR_ROLE, Role};
use crate::domain::{random, validate};
use crate::error::{Error, Result};
use crate::events::Outcome;
use keyholder_kit::auth::{Principal, PrincipalKind};
use keyholder_kit::paging::Page;
use keyholder_proto::identity::v1 as pb;
use tonic::Request;

/// A membership change in a department.
fn member<'a>(
    tenant_id: &'a str,
    department_id: &'a str,
    user_id: &'a str,
    added: bool,
) -> Outcome<'a> {
    Outcome::DepartmentMember {
        tenant_id,
        department_id,
        user_id,
        added,
    }
}

impl Api {
    async fn tenant_department(&self, tenant_id: &str, id: &str) -> Result<Department> {
        self.store
            .department(id)
            .await?
            .filter(|d| d.tenant_id == tenant_id)
            .ok_or_else(|| Error::not_found(format!("department {id} not found")))
    }

    /// A role of a tenant the caller administers.
    async fn admin_role(&self, p: &Principal, role_id: &str) -> Result<Role> {
        let id = validate::uuid("role_id", role_id)?;
        let r = self
            .store
            .role(&id)
            .await?
            .ok_or_else(|| Error::not_found(format!("role {id} not found")))?;
        if !p.is_member_of(&r.tenant_id) {
            return Err(Error::not_found(format!("role {id} not found")));
        }
        p.require_admin_of(&r.tenant_id)?;
        Ok(r)
    }

    /// Checks a subject belongs to the tenant.
    pub(super) async fn check_subject(&self, tenant_id: &str, s: &SubjectRef) -> Result<()> {
        match s {
            SubjectRef::User(id) => {
                let ok = self.store.user(id).await?.is_some_and(|u| {
                    u.tenant_id == tenant_id
                        && matches!(u.kind, PrincipalKind::Employee | PrincipalKind::Integrator)
                });
                if !ok {
                    return Err(Error::not_found(format!("user {id} not found")));
                }
            }
            SubjectRef::Department(id) => {
                self.tenant_department(tenant_id, id).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn h_create_department(
        &self,
        req: Request<pb::CreateDepartmentRequest>,
    ) -> Result<pb::CreateDepartmentResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_admin_of(&tenant_id)?;
        let name = validate::name("name", &r.name)?;
        let parent = Some(r.parent_id.trim().to_string()).filter(|s| !s.is_empty());
        self.once(&p.id, "CreateDepartment", &r.request_id, || async {
            let id = random::id();
            if let Some(parent) = &parent {
                self.tenant_department(&tenant_id, parent).await?;
                let snapshot = self.store.org_snapshot(&tenant_id).await?;
                if would_cycle(&id, parent, &tree_of(&snapshot.departments)) {
                    return Err(Error::precondition("departments cannot form a cycle"));
                }
            }
            let d = Department {
                department_id: id,
                tenant_id: tenant_id.clone(),
                name,
                parent_id: parent,
                created_at: self.now(),
            };
            let events = self.change(&p, Outcome::DepartmentCreated(&d));
            self.store.insert_department(&d, &events).await?;
            Ok(pb::CreateDepartmentResponse {
                department: Some(department_pb(&d)),
            })
        })
        .await
    }

    pub(super) async fn h_list_departments(
        &self,
        req: Request<pb::ListDepartmentsRequest>,
    ) -> Result<pb::ListDepartmentsResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_member_of(&tenant_id)?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self.store.list_departments(&tenant_id, page).await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        Ok(pb::ListDepartmentsResponse {
            departments: rows.iter().map(department_pb).collect(),
            next_page_token: next,
        })
    }

    /// The tenant, department and user of a membership change, both in a
    /// tenant the caller administers.
    async fn membership(
        &self,
        p: &Principal,
        dept: &str,
        user: &str,
    ) -> Result<(String, String, String)> {
        let dept = validate::uuid("department_id", dept)?;
        let user = validate::uuid("user_id", user)?;
        let d = self
            .store
            .department(&dept)
            .await?
            .filter(|d| p.is_member_of(&d.tenant_id))
            .ok_or_else(|| Error::not_found(format!("department {dept} not found")))?;
        p.require_admin_of(&d.tenant_id)?;
        self.check_subject(&d.tenant_id, &SubjectRef::User(user.clone()))
            .await?;
        Ok((d.tenant_id, dept, user))
    }

    pub(super) async fn h_add_department_member(
        &self,
        req: Request<pb::AddDepartmentMemberRequest>,
    ) -> Result<pb::AddDepartmentMemberResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let (tenant, dept, user) = self.membership(&p, &r.department_id, &r.user_id).await?;
        let events = self.change(&p, member(&tenant, &dept, &user, true));
        self.store.add_member(&dept, &user, &events).await?;
        Ok(pb::AddDepartmentMemberResponse {})
    }

    pub(super) async fn h_remove_department_member(
        &self,
        req: Request<pb::RemoveDepartmentMemberRequest>,
    ) -> Result<pb::RemoveDepartmentMemberResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let (tenant, dept, user) = self.membership(&p, &r.department_id, &r.user_id).await?;
        let events = self.change(&p, member(&tenant, &dept, &user, false));
        self.store.remove_member(&dept, &user, &events).await?;
        Ok(pb::RemoveDepartmentMemberResponse {})
    }

    pub(super) async fn h_create_role(
        &self,
        req: Request<pb::CreateRoleRequest>,
    ) -> Result<pb::CreateRoleResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_admin_of(&tenant_id)?;
        let name = r.name.trim().to_string();
        if !rights::valid_action(&name) {
            return Err(Error::invalid(format!(
                "role name \"{name}\" is not valid: use lowercase letters, digits, - and _"
            )));
        }
        let rs = rights_from_pb(&r.rights)?;
        if p.kind == PrincipalKind::Integrator {
            rights::check_integrator_may_grant(&rs)?;
        }
        self.once(&p.id, "CreateRole", &r.request_id, || async {
            if self.store.role_by_name(&tenant_id, &name).await?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "role {name} already exists in this tenant"
                )));
            }
            let role = Role::new(&tenant_id, name, &rs, false, self.now());
            let events = self.change(&p, Outcome::RoleCreated(&role));
            self.store.insert_role(&role, &events).await?;
            Ok(pb::CreateRoleResponse {
                role: Some(role_pb(&role)),
            })
        })
        .await
    }

    pub(super) async fn h_list_roles(
        &self,
        req: Request<pb::ListRolesRequest>,
    ) -> Result<pb::ListRolesResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        if !p.has_scope("identity.roles.read") {
            p.require_member_of(&tenant_id)?;
        }
        if self.store.tenant(&tenant_id).await?.is_none() {
            return Err(Error::not_found(format!("tenant {tenant_id} not found")));
        }
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self.store.list_roles(&tenant_id, page).await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        Ok(pb::ListRolesResponse {
            roles: rows.iter().map(role_pb).collect(),
            next_page_token: next,
        })
    }

    pub(super) async fn h_update_role(
        &self,
        req: Request<pb::UpdateRoleRequest>,
    ) -> Result<pb::UpdateRoleResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let mut role = self.admin_role(&p, &r.role_id).await?;
        let rs = rights_from_pb(&r.rights)?;
        if role.built_in {
            return Err(Error::precondition(format!(
                "role {} is built in and cannot be edited",
                role.name
            )));
        }
        if p.kind == PrincipalKind::Integrator {
            rights::check_integrator_may_grant(&rs)?;
        }
        // Through `once`: a retried update must not log a second change.
        self.once(&p.id, "UpdateRole", &r.request_id, || async {
            role.rights = rs.clone();
            let events = self.change(&p, Outcome::RoleUpdated(&role));
            self.store.save_role(&role, &events).await?;
            Ok(pb::UpdateRoleResponse {
                role: Some(role_pb(&role)),
            })
        })
        .await
    }

    pub(super) async fn h_assign_role(
        &self,
        req: Request<pb::AssignRoleRequest>,
    ) -> Result<pb::AssignRoleResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let role = self.admin_role(&p, &r.role_id).await?;
        let subject = subject_from_pb(r.subject.as_ref())?;
        if role.name == ADMIN_ROLE {
            return Err(Error::precondition(
                "the admin role is given with SetAdmin, not AssignRole",
            ));
        }
        // The built-in integrator role holds every right: giving it to
        // anyone would hand out administrator rights outside SetAdmin.
        if role.built_in && role.name == INTEGRATOR_ROLE {
            return Err(Error::precondition(
                "the integrator role comes only with an integrator invitation",
            ));
        }
        if p.kind == PrincipalKind::Integrator {
            rights::check_integrator_may_grant(&role.rights)?;
        }
        self.check_subject(&role.tenant_id, &subject).await?;
        let events = self.change(
            &p,
            Outcome::RoleAssignment {
                role: &role,
                subject: &subject,
                assigned: true,
            },
        );
        self.store
            .assign_role(&role.tenant_id, &role.role_id, &subject, &events)
            .await?;
        Ok(pb::AssignRoleResponse {})
    }

    pub(super) async fn h_unassign_role(
        &self,
        req: Request<pb::UnassignRoleRequest>,
    ) -> Result<pb::UnassignRoleResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let role = self.admin_role(&p, &r.role_id).await?;
        let subject = subject_from_pb(r.subject.as_ref())?;
        let events = self.change(
            &p,
            Outcome::RoleAssignment {
                role: &role,
                subject: &subject,
                assigned: false,
            },
        );
        if !self
            .store
            .unassign_role(&role.role_id, &subject, &events)
            .await?
        {
            return Err(Error::not_found(
                "that role is not assigned to that subject",
            ));
        }
        Ok(pb::UnassignRoleResponse {})
    }
}
