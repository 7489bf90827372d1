//! Employees and users: create, read, list, dismiss, re-hire, admins.

use super::Api;
use crate::domain::people::{self, NewUser, Target, User};
use crate::domain::{password, validate};
use crate::error::{Error, Result};
use crate::events::Outcome;
use crate::store::{Limit, Write};
use keyholder_kit::auth::{Principal, PrincipalKind};
use keyholder_kit::paging::Page;
use keyholder_proto::identity::v1 as pb;
use keyholder_rights::Capability;
use tonic::Request;

impl Api {
    /// A user the caller may see: the operator sees everyone, service
    /// accounts with `identity.users.read` too, members see their tenant.
    /// Anyone else gets NOT_FOUND, exactly as for a missing user.
    pub(super) async fn tenant_user(&self, p: &Principal, id: &str) -> Result<User> {
        let missing = || Error::not_found(format!("user {id} not found"));
        let u = self.store.user(id).await?.ok_or_else(missing)?;
        let visible = p.is_operator()
            || p.has_scope("identity.users.read")
            || p.id == u.user_id
            || (!u.tenant_id.is_empty() && p.is_member_of(&u.tenant_id));
        if visible { Ok(u) } else { Err(missing()) }
    }

    /// The user as stored now (after a targeted update).
    pub(super) async fn fresh_user(&self, id: &str) -> Result<User> {
        self.store
            .user(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {id} not found")))
    }

    /// What the rules need to know about a user being changed.
    pub(super) async fn target_facts(&self, u: &User) -> Result<Target> {
        Ok(u.target(self.is_chief(u).await?))
    }

    /// Checks that every department exists in the tenant.
    pub(super) async fn check_departments(&self, tenant_id: &str, ids: &[String]) -> Result<()> {
        for id in ids {
            let ok = self
                .store
                .department(id)
                .await?
                .is_some_and(|d| d.tenant_id == tenant_id);
            if !ok {
                return Err(Error::not_found(format!("department {id} not found")));
            }
        }
        Ok(())
    }

    pub(super) async fn h_create_employee(
        &self,
        req: Request<pb::CreateEmployeeRequest>,
    ) -> Result<pb::CreateEmployeeResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_admin_of(&tenant_id)?;
        let email = validate::email(&r.email)?;
        let display = validate::name("display_name", &r.display_name)?;
        password::validate(&r.password)?;
        let departments: Vec<String> = r
            .department_ids
            .iter()
            .map(|d| d.trim().to_string())
            .collect();
        self.once(&p.id, "CreateEmployee", &r.request_id, || async {
            self.visible_tenant(&p, &tenant_id).await?;
            self.check_departments(&tenant_id, &departments).await?;
            if self
                .store
                .user_by_email(&tenant_id, &email)
                .await?
                .is_some()
            {
                return Err(Error::AlreadyExists(format!(
                    "a user with e-mail {email} already exists in this tenant"
                )));
            }
            let u = NewUser {
                email,
                display_name: display,
                password_hash: password::hash(&r.password).await?,
            }
            .employee(&tenant_id, self.now());
            let events = self.change(
                &p,
                Outcome::EmployeeCreated {
                    user: &u,
                    departments: &departments,
                },
            );
            // The seat check runs again under the tenant's lock, atomically
            // with the insert: concurrent calls cannot overshoot the limit.
            self.store
                .write_within_limit(&u, Write::Insert(&departments), Limit::Seats, &events)
                .await?;
            Ok(pb::CreateEmployeeResponse {
                user: Some(self.user_pb(&u).await?),
            })
        })
        .await
    }

    pub(super) async fn h_get_user(
        &self,
        req: Request<pb::GetUserRequest>,
    ) -> Result<pb::GetUserResponse> {
        let p = self.caller(&req).await?;
        let id = validate::uuid("user_id", &req.get_ref().user_id)?;
        let u = self.tenant_user(&p, &id).await?;
        Ok(pb::GetUserResponse {
            user: Some(self.user_pb(&u).await?),
        })
    }

    pub(super) async fn h_list_users(
        &self,
        req: Request<pb::ListUsersRequest>,
    ) -> Result<pb::ListUsersResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = keyholder_rights::input::optional_uuid("tenant_id", &r.tenant_id)?;
        let email = if r.email.trim().is_empty() {
            String::new()
        } else {
            keyholder_rights::input::email("email", &r.email)?
        };
        let service_lookup = !email.is_empty() && p.has_scope("identity.users.read");
        if tenant_id.is_empty() || !p.is_operator() {
            if tenant_id.is_empty() {
                if !service_lookup {
                    p.require_operator()?;
                }
            } else {
                p.require_member_of(&tenant_id)?;
            }
        }
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self
            .store
            .list_users(&tenant_id, &email, r.include_inactive, page)
            .await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        let mut users = Vec::with_capacity(rows.len());
        for u in &rows {
            users.push(self.user_pb(u).await?);
        }
        Ok(pb::ListUsersResponse {
            users,
            next_page_token: next,
        })
    }

    /// The user to change and the caller's right to change them: agents by
    /// the operator, tenant users by that tenant's admins.
    async fn changeable_user(&self, p: &Principal, id: &str) -> Result<User> {
        let id = validate::uuid("user_id", id)?;
        let u = self.tenant_user(p, &id).await?;
        if u.tenant_id.is_empty() {
            p.require_operator()?;
        } else {
            p.require_admin_of(&u.tenant_id)?;
        }
        Ok(u)
    }

    pub(super) async fn h_deactivate_user(
        &self,
        req: Request<pb::DeactivateUserRequest>,
    ) -> Result<pb::DeactivateUserResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let u = self.changeable_user(&p, &r.user_id).await?;
        self.once(&p.id, "DeactivateUser", &r.request_id, || async {
            people::check_deactivate(&p, &self.target_facts(&u).await?)?;
            if u.active {
                let events = self.change(&p, Outcome::UserDeactivated(&u));
                self.store
                    .deactivate_user(&u.user_id, self.now(), &events)
                    .await?;
                tracing::info!(user_id = %u.user_id, by = %p.id, "user deactivated");
            }
            let u = self.fresh_user(&u.user_id).await?;
            Ok(pb::DeactivateUserResponse {
                user: Some(self.user_pb(&u).await?),
            })
        })
        .await
    }

    pub(super) async fn h_reactivate_user(
        &self,
        req: Request<pb::ReactivateUserRequest>,
    ) -> Result<pb::ReactivateUserResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let u = self.changeable_user(&p, &r.user_id).await?;
        self.once(&p.id, "ReactivateUser", &r.request_id, || async {
            let facts = self.target_facts(&u).await?;
            if facts.admin && !p.holds(Capability::AppointAdmins) {
                return Err(Error::denied("integrators may not re-hire administrators"));
            }
            if !u.active {
                let now = self.now();
                // An integrator counts against its partner's limit; one
                // without a partner is a broken row, not "no partner".
                let (partner_id, partner_name) = match facts.kind {
                    PrincipalKind::Integrator => {
                        let id = u.partner_id.clone().ok_or_else(|| {
                            Error::internal(format!("integrator {} has no partner", u.user_id))
                        })?;
                        let name = self.partner_name(&id).await?;
                        (id, name)
                    }
                    _ => (String::new(), String::new()),
                };
                // Re-hired without 2FA: a fresh 10 days to turn it on.
                let totp_deadline = u.rehire_deadline(now);
                let events = self.change(&p, Outcome::UserReactivated(&u));
                // Limits are checked under the tenant's lock, with the write.
                let limit = match facts.kind {
                    PrincipalKind::Employee => Some(Limit::Seats),
                    PrincipalKind::Integrator => Some(Limit::Partner {
                        partner_id: &partner_id,
                        partner_name: &partner_name,
                        now,
                    }),
                    _ => None,
                };
                match limit {
                    Some(limit) => {
                        self.store
                            .write_within_limit(
                                &u,
                                Write::Reactivate { totp_deadline },
                                limit,
                                &events,
                            )
                            .await?
                    }
                    None => {
                        self.store
                            .reactivate_user(&u.user_id, totp_deadline, &events)
                            .await?
                    }
                }
                tracing::info!(user_id = %u.user_id, by = %p.id, "user reactivated");
            }
            let u = self.fresh_user(&u.user_id).await?;
            Ok(pb::ReactivateUserResponse {
                user: Some(self.user_pb(&u).await?),
            })
        })
        .await
    }

    pub(super) async fn h_set_admin(
        &self,
        req: Request<pb::SetAdminRequest>,
    ) -> Result<pb::SetAdminResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let u = self.changeable_user(&p, &r.user_id).await?;
        self.once(&p.id, "SetAdmin", &r.request_id, || async {
            p.require_capability(&u.tenant_id, Capability::AppointAdmins)?;
            people::check_set_admin(&self.target_facts(&u).await?, r.admin)?;
            if u.admin != r.admin {
                let events = self.change(&p, Outcome::AdminSet(&u, r.admin));
                self.store.set_admin(&u.user_id, r.admin, &events).await?;
                tracing::info!(user_id = %u.user_id, admin = r.admin, by = %p.id, "admin role changed");
            }
            let u = self.fresh_user(&u.user_id).await?;
            Ok(pb::SetAdminResponse {
                user: Some(self.user_pb(&u).await?),
            })
        })
        .await
    }
}
