//! Who may learn that a tenant, or a record of it, exists. Decided before any
//! permission check that would name a tenant: a caller who may not see a
//! record or a tenant gets the same NOT_FOUND as for one that does not exist,
//! so refusals reveal nothing about other tenants.

use crate::Core;
use crate::error::Error;
use keyholder_kit::auth::{AuthError, Principal, PrincipalKind};

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
