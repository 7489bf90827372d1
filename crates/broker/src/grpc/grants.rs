//! GetGrant, ListGrants, ExtendGrant, RevokeGrant, IssueGrantCredential,
//! CloseTicket.

use super::convert::{grant_out, grant_state_in, time, ts};
use super::requests::HELPDESK;
use super::visibility::{listing, record_visible_to, require_capability};
use super::{caller, idempotent, random_token, sha256_hex};
use crate::Core;
use crate::domain::grant::{EndCause, Grant};
use crate::domain::state::GrantEvent;
use crate::domain::{Person, input};
use crate::error::Error;
use crate::events;
use crate::store::grants::CredentialIssue;
use keyholder_kit::auth::Principal;
use keyholder_proto::broker::v1::*;
use keyholder_rights::Capability;
use tonic::Request;

/// The grant, if `p` may see it; one that exists but is not theirs to see
/// is answered exactly like a missing one.
async fn load(core: &Core, p: &Principal, id: &str) -> Result<Grant, Error> {
    let id = input::uuid("grant_id", id)?;
    core.store
        .grant(&id)
        .await?
        .filter(|g| record_visible_to(p, &g.agent.id, &g.tenant_id))
        .ok_or_else(|| Error::NotFound(format!("grant {id} not found")))
}

fn admin(p: &Principal) -> Person {
    Person {
        id: p.id.clone(),
        name: p.display_name.clone(),
        email: p.email.clone(),
    }
}

pub(super) async fn get(
    core: &Core,
    req: Request<GetGrantRequest>,
) -> Result<GetGrantResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let g = load(core, p, &req.get_ref().grant_id).await?;
    p.require_agent_or_admin_of(&g.agent.id, &g.tenant_id)?;
    Ok(GetGrantResponse {
        grant: Some(grant_out(&g, core.now())),
    })
}

pub(super) async fn list(
    core: &Core,
    req: Request<ListGrantsRequest>,
) -> Result<ListGrantsResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let (f, page) = listing(p, req.get_ref(), grant_state_in)?;
    let now = core.now();
    let (rows, next) = core.store.list_grants(&f, page, now).await?;
    Ok(ListGrantsResponse {
        grants: rows.iter().map(|g| grant_out(g, now)).collect(),
        next_page_token: next,
    })
}

pub(super) async fn extend(
    core: &Core,
    req: Request<ExtendGrantRequest>,
) -> Result<ExtendGrantResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let r = req.into_inner();
    let g = load(core, p, &r.grant_id).await?;
    require_capability(p, &g.tenant_id, Capability::ManageSupportGrants)?;
    idempotent(core, &p.id, "ExtendGrant", &r.request_id, async {
        let now = core.now();
        g.check(GrantEvent::Extend, now)?;
        let new_end = time("expire_time", r.expire_time)?
            .ok_or_else(|| Error::InvalidArgument("expire_time is required".into()))?;
        let s = core.store.settings(&g.tenant_id).await?;
        let x = g.extend(new_end, &s, now)?;
        let actor = events::actor(&admin(p), "employee");
        if !core.store.extend_grant(&x, actor, now).await? {
            return Err(Error::FailedPrecondition(
                "the grant changed or ended meanwhile; read it again".into(),
            ));
        }
        Ok(ExtendGrantResponse {
            grant: Some(grant_out(&x.grant, now)),
        })
    })
    .await
}

pub(super) async fn revoke(
    core: &Core,
    req: Request<RevokeGrantRequest>,
) -> Result<RevokeGrantResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let r = req.into_inner();
    let g = load(core, p, &r.grant_id).await?;
    require_capability(p, &g.tenant_id, Capability::ManageSupportGrants)?;
    let why = input::optional_text("reason", &r.reason, input::MAX_NOTE_LEN)?;
    idempotent(core, &p.id, "RevokeGrant", &r.request_id, async {
        let now = core.now();
        let x = g.revoke(&p.id, EndCause::Revoked, why, now)?;
        let actor = events::actor(&admin(p), "employee");
        if !core.store.end_grant(&x, actor, now).await? {
            return Err(Error::FailedPrecondition(
                "the grant had already ended".into(),
            ));
        }
        Ok(RevokeGrantResponse {
            grant: Some(grant_out(&x.grant, now)),
        })
    })
    .await
}

fn credential_used() -> Error {
    Error::FailedPrecondition(
        "the grant's one-time credential was already used; ask the tenant's administrator for a new grant"
            .into(),
    )
}

/// Gives the agent the grant's one-time credential. Asking again before it is
/// used replaces it (only the newest works); after it was used, never again.
pub(super) async fn issue_credential(
    core: &Core,
    req: Request<IssueGrantCredentialRequest>,
) -> Result<IssueGrantCredentialResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    p.require_support_agent()?;
    // Another agent's grant is not theirs to see: load answers NOT_FOUND.
    let g = load(core, p, &req.get_ref().grant_id).await?;
    let now = core.now();
    g.check(GrantEvent::Use, now)?;
    if g.credential_used_at.is_some() {
        return Err(credential_used());
    }
    let credential = random_token(32)?;
    match core
        .store
        .set_credential(&g, &sha256_hex(&credential), now)
        .await?
    {
        CredentialIssue::Issued => {}
        CredentialIssue::AlreadyUsed => return Err(credential_used()),
        CredentialIssue::GrantEnded => {
            return Err(Error::FailedPrecondition(
                "the grant ended meanwhile".into(),
            ));
        }
    }
    Ok(IssueGrantCredentialResponse {
        credential,
        expire_time: ts(g.expire_at),
    })
}

pub(super) async fn close_ticket(
    core: &Core,
    req: Request<CloseTicketRequest>,
) -> Result<CloseTicketResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    p.require_scope(HELPDESK)?;
    let r = req.into_inner();
    let tenant_id = input::tenant_id(&r.tenant_id)?;
    let ticket_ref = input::required_name("ticket_ref", &r.ticket_ref)?;
    idempotent(core, &p.id, "CloseTicket", &r.request_id, async {
        let actor = events::actor(&admin(p), "service_account");
        let (revoked, cancelled) = core
            .store
            .close_ticket(&tenant_id, &ticket_ref, actor, core.now())
            .await?;
        Ok(CloseTicketResponse {
            revoked_grant_ids: revoked,
            cancelled_access_request_ids: cancelled,
        })
    })
    .await
}
