//! Who may learn that a tenant, or a record of it, exists. Decided before any
//! permission check that would name a tenant: a caller who may not see a
//! record or a tenant gets the same NOT_FOUND as for one that does not exist,
//! so refusals reveal nothing about other tenants.

use crate::Core;
use crate::domain::input;
use crate::error::Error;
use crate::store::listing::ListFilter;
use keyholder_kit::auth::{AuthError, Principal, PrincipalKind};
use keyholder_kit::paging::Page;
use keyholder_proto::broker::v1::{ListAccessRequestsRequest, ListGrantsRequest};

/// The answer for a tenant that does not exist or that the caller may not see.
pub(super) fn tenant_not_found(tenant_id: &str) -> Error {
    Error::NotFound(format!("tenant {tenant_id} not found"))
}

/// May `p` see the tenant's own business (settings, listings, records)?
/// Only its members may; the kit's permission messages name the tenant, so
/// they are shown only to callers for whom this holds.
pub(super) fn visible_to(p: &Principal, tenant_id: &str) -> bool {
    p.is_member_of(tenant_id)
}

/// May `p` see a request or grant of `agent_id` in `tenant_id`: the agent it
/// concerns, or a member of the tenant (who may still lack the right to act).
pub(super) fn record_visible_to(p: &Principal, agent_id: &str, tenant_id: &str) -> bool {
    (p.kind == PrincipalKind::SupportAgent && p.id == agent_id) || visible_to(p, tenant_id)
}

/// Requires an administrator of `tenant_id` (integrators included; their
/// limits are capabilities, see [`require_capability`]). A member of another tenant is answered as if the
/// tenant did not exist; vendor-side callers (operator, agents, service
/// accounts) get a refusal that names no tenant and says nothing of whether
/// it exists.
pub(super) fn require_admin(p: &Principal, tenant_id: &str) -> Result<(), Error> {
    if visible_to(p, tenant_id) {
        p.require_admin_of(tenant_id)?;
        return Ok(());
    }
    if p.tenant_id.is_some() {
        return Err(tenant_not_found(tenant_id));
    }
    Err(AuthError::Forbidden("only an administrator of the tenant may do this".into()).into())
}

/// Like [`require_admin`] for an admin-only power: callers outside the
/// tenant learn nothing, members must hold the capability (integrators hold
/// none of them).
pub(super) fn require_capability(
    p: &Principal,
    tenant_id: &str,
    cap: keyholder_rights::Capability,
) -> Result<(), Error> {
    require_admin(p, tenant_id)?;
    p.require_capability(tenant_id, cap)?;
    Ok(())
}

/// NOT_FOUND unless identity knows the tenant. Called before anything is
/// written for a tenant named by a vendor-side caller (agent, helpdesk), so a
/// made-up id leaves no settings, requests or audit events behind.
pub(super) async fn require_tenant_exists(core: &Core, tenant_id: &str) -> Result<(), Error> {
    if core.identity.tenant_exists(tenant_id).await? {
        Ok(())
    } else {
        Err(tenant_not_found(tenant_id))
    }
}

/// What a listing of requests or grants is asked with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked<'a> {
    tenant_id: &'a str,
    ticket_ref: &'a str,
    agent_id: &'a str,
    page_size: i32,
    page_token: &'a str,
    state: i32,
}

/// A listing call of requests or grants: both carry the same fields.
pub(super) trait ListCall {
    /// Its fields.
    fn asked(&self) -> Asked<'_>;
}

// The generated messages share no trait of their own; one body serves both.
macro_rules! list_call {
    ($($t:ty),*) => {$(
        impl ListCall for $t {
            fn asked(&self) -> Asked<'_> {
                Asked {
                    tenant_id: &self.tenant_id,
                    ticket_ref: &self.ticket_ref,
                    agent_id: &self.agent_id,
                    page_size: self.page_size,
                    page_token: &self.page_token,
                    state: self.state,
                }
            }
        }
    )*};
}

list_call!(ListAccessRequestsRequest, ListGrantsRequest);

/// The filter and page of a listing of requests or grants, checked in this
/// order: the optional filters, the page, the state (`state_in` reads it),
/// then who may list. Without a tenant only a support agent may, and sees
/// only their own; with one, only an administrator of it.
pub(super) fn listing<S>(
    p: &Principal,
    call: &impl ListCall,
    state_in: fn(i32) -> Result<Option<S>, Error>,
) -> Result<(ListFilter<S>, Page), Error> {
    let r = call.asked();
    let tenant_id = if r.tenant_id.trim().is_empty() {
        String::new()
    } else {
        input::tenant_id(r.tenant_id)?
    };
    let ticket_ref = input::optional_name("ticket_ref", r.ticket_ref)?;
    let agent_id = input::optional_uuid("agent_id", r.agent_id)?;
    let page = Page::parse(r.page_size, r.page_token)?;
    let mut f = ListFilter {
        state: state_in(r.state)?,
        ticket_ref: (!ticket_ref.is_empty()).then_some(ticket_ref),
        agent_id: (!agent_id.is_empty()).then_some(agent_id),
        tenant_id: None,
    };
    if tenant_id.is_empty() {
        p.require_support_agent()?;
        f.agent_id = Some(p.id.clone());
    } else {
        require_admin(p, &tenant_id)?;
        f.tenant_id = Some(tenant_id);
    }
    Ok((f, page))
}
