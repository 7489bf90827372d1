//! Tenants, ownership, contacts and seats.

use super::Api;
use super::convert::{locale_from_pb, locale_to_pb, policy_from_pb, tenant_pb};
use crate::domain::directory::Tenant;
use crate::domain::people::{self, NewUser, User};
use crate::domain::rights::{Role, built_in_roles};
use crate::domain::{password, random, validate};
use crate::error::{Error, Result};
use crate::events::Outcome;
use keyholder_kit::auth::Principal;
use keyholder_kit::paging::Page;
use keyholder_proto::identity::v1 as pb;
use keyholder_rights::Capability;
use keyholder_rights::InputError;
use tonic::Request;

impl Api {
    /// A tenant the caller may see: its members, the operator, or a service
    /// account with `identity.contacts.read`. Others learn nothing.
    pub(super) async fn visible_tenant(&self, p: &Principal, id: &str) -> Result<Tenant> {
        let id = validate::uuid("tenant_id", id)?;
        if !(p.is_operator() || p.is_member_of(&id) || p.has_scope("identity.contacts.read")) {
            return Err(Error::denied(format!(
                "you are not a member of tenant {id}"
            )));
        }
        self.store
            .tenant(&id)
            .await?
            .ok_or_else(|| Error::not_found(format!("tenant {id} not found")))
    }

    pub(super) async fn h_create_tenant(
        &self,
        req: Request<pb::CreateTenantRequest>,
    ) -> Result<pb::CreateTenantResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let name = validate::name("name", &r.name)?;
        if r.seat_limit < 1 {
            return Err(InputError::OutOfRange {
                field: "seat_limit".into(),
                why: "must be at least 1 (the chief admin takes a seat)".into(),
            }
            .into());
        }
        let locale = locale_from_pb(r.locale)?;
        let chief = r.chief_admin.ok_or_else(|| InputError::Required {
            field: "chief_admin".into(),
        })?;
        let email = keyholder_rights::input::email("chief_admin.email", &chief.email)?;
        let display = validate::name("chief_admin.display_name", &chief.display_name)?;
        password::validate(&chief.password)?;
        self.once(&p.id, "CreateTenant", &r.request_id, || async {
            let now = self.now();
            let tenant_id = random::id();
            let chief = NewUser {
                email,
                display_name: display,
                password_hash: password::hash(&chief.password).await?,
            }
            .chief_admin(&tenant_id, now);
            let t = Tenant::new(
                tenant_id.clone(),
                name,
                locale,
                r.seat_limit,
                chief.user_id.clone(),
                now,
            );
            let roles: Vec<Role> = built_in_roles()
                .into_iter()
                .map(|(n, rs)| Role::new(&tenant_id, n.into(), &rs, true, now))
                .collect();
            let events = self.change(
                &p,
                Outcome::TenantCreated {
                    tenant: &t,
                    chief: &chief,
                },
            );
            self.store
                .create_tenant(&t, &chief, &roles, &events)
                .await?;
            tracing::info!(tenant_id = %t.tenant_id, "tenant created");
            Ok(pb::CreateTenantResponse {
                tenant: Some(tenant_pb(&t)),
                chief_admin: Some(self.user_pb(&chief).await?),
            })
        })
        .await
    }

    pub(super) async fn h_get_tenant(
        &self,
        req: Request<pb::GetTenantRequest>,
    ) -> Result<pb::GetTenantResponse> {
        let p = self.caller(&req).await?;
        let t = self.visible_tenant(&p, &req.get_ref().tenant_id).await?;
        Ok(pb::GetTenantResponse {
            tenant: Some(tenant_pb(&t)),
        })
    }

    pub(super) async fn h_list_tenants(
        &self,
        req: Request<pb::ListTenantsRequest>,
    ) -> Result<pb::ListTenantsResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self.store.list_tenants(page).await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        Ok(pb::ListTenantsResponse {
            tenants: rows.iter().map(tenant_pb).collect(),
            next_page_token: next,
        })
    }

    pub(super) async fn h_update_tenant(
        &self,
        req: Request<pb::UpdateTenantRequest>,
    ) -> Result<pb::UpdateTenantResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        if !p.is_operator() {
            p.require_admin_of(&tenant_id)?;
            if r.seat_limit.is_some() {
                return Err(Error::denied("only the operator may change the seat limit"));
            }
            // An integrator must not lift a restriction meant for them.
            if r.invitation_policy.is_some() {
                p.require_employee_admin_of(&tenant_id)?;
            }
        }
        let name = r
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        let locale = r.locale.map(locale_from_pb).transpose()?;
        let policy = r.invitation_policy.map(policy_from_pb).transpose()?;
        if r.seat_limit == Some(0) {
            return Err(InputError::OutOfRange {
                field: "seat_limit".into(),
                why: "must be at least 1".into(),
            }
            .into());
        }
        self.once(&p.id, "UpdateTenant", &r.request_id, || async {
            let mut t = self.visible_tenant(&p, &tenant_id).await?;
            let mut changed: Vec<(&'static str, String)> = Vec::new();
            if let Some(n) = name.clone() {
                changed.push(("tenant_name", n.clone()));
                t.name = n;
            }
            if let Some(l) = locale {
                changed.push(("locale", l.into()));
                t.locale = l.into();
            }
            if let Some(pol) = policy {
                changed.push(("invitation_policy", pol.as_str().into()));
                t.invitation_policy = pol;
            }
            if let Some(s) = r.seat_limit {
                changed.push(("seat_limit", s.to_string()));
                t.seat_limit = i64::from(s);
            }
            let events = self.change(
                &p,
                Outcome::TenantUpdated {
                    tenant_id: &tenant_id,
                    changed: &changed,
                },
            );
            self.store.save_tenant(&t, &events).await?;
            Ok(pb::UpdateTenantResponse {
                tenant: Some(tenant_pb(&t)),
            })
        })
        .await
    }

    pub(super) async fn h_transfer_ownership(
        &self,
        req: Request<pb::TransferOwnershipRequest>,
    ) -> Result<pb::TransferOwnershipResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_capability(&tenant_id, Capability::TransferOwnership)?;
        let new_id = validate::uuid("new_chief_admin_id", &r.new_chief_admin_id)?;
        self.once(&p.id, "TransferOwnership", &r.request_id, || async {
            let mut t = self.visible_tenant(&p, &tenant_id).await?;
            let target = self.tenant_user(&p, &new_id).await?;
            if target.tenant_id != tenant_id {
                return Err(Error::not_found(format!("user {new_id} not found")));
            }
            let facts = self.target_facts(&target).await?;
            // The token may be stale: the tenant row says who the chief is.
            let mut actor = p.clone();
            actor.chief_admin = t.chief_admin_id == p.id;
            people::check_transfer(&actor, &facts, target.user_id == p.id)?;
            let events = self.change(
                &p,
                Outcome::OwnershipTransferred {
                    tenant_id: &tenant_id,
                    previous: &t.chief_admin_id,
                    to: &target.user_id,
                },
            );
            let previous = std::mem::replace(&mut t.chief_admin_id, target.user_id.clone());
            self.store
                .transfer_ownership(&t, &previous, &events)
                .await?;
            tracing::info!(tenant_id = %t.tenant_id, from = %p.id, to = %target.user_id, "ownership transferred");
            Ok(pb::TransferOwnershipResponse {
                tenant: Some(tenant_pb(&t)),
            })
        })
        .await
    }

    pub(super) async fn h_get_tenant_contacts(
        &self,
        req: Request<pb::GetTenantContactsRequest>,
    ) -> Result<pb::GetTenantContactsResponse> {
        let p = self.caller(&req).await?;
        let tenant_id = validate::uuid("tenant_id", &req.get_ref().tenant_id)?;
        if !p.has_scope("identity.contacts.read") {
            p.require_admin_of(&tenant_id)?;
        }
        let t = self
            .store
            .tenant(&tenant_id)
            .await?
            .ok_or_else(|| Error::not_found(format!("tenant {tenant_id} not found")))?;
        let contact = |u: &User| pb::Contact {
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
        };
        let admins = self.store.tenant_admins(&tenant_id).await?;
        let chief = self.store.user(&t.chief_admin_id).await?;
        Ok(pb::GetTenantContactsResponse {
            tenant_id: t.tenant_id.clone(),
            tenant_name: t.name.clone(),
            locale: locale_to_pb(&t.locale) as i32,
            chief_admin: chief.as_ref().map(contact),
            admins: admins.iter().map(contact).collect(),
        })
    }

    pub(super) async fn h_get_seat_usage(
        &self,
        req: Request<pb::GetSeatUsageRequest>,
    ) -> Result<pb::GetSeatUsageResponse> {
        let p = self.caller(&req).await?;
        let tenant_id = validate::uuid("tenant_id", &req.get_ref().tenant_id)?;
        if !p.is_operator() {
            p.require_admin_of(&tenant_id)?;
        }
        let t = self.visible_tenant(&p, &tenant_id).await?;
        let used = self.store.seats_used(&tenant_id).await?;
        Ok(pb::GetSeatUsageResponse {
            used: u32::try_from(used).unwrap_or(u32::MAX),
            limit: u32::try_from(t.seat_limit).unwrap_or(u32::MAX),
        })
    }
}
