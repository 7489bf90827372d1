//! CreateAccessRequest, GetAccessRequest, ListAccessRequests,
//! ApproveAccessRequest, DenyAccessRequest.

use super::convert::{duration, grant_out, request_out, request_state_in, scope_in};
use super::visibility::{listing, record_visible_to, require_capability, require_tenant_exists};
use super::{caller, idempotent};
use crate::Core;
use crate::domain::limits::check_open_for_approval;
use crate::domain::request::{AccessRequest, NewRequest};
use crate::domain::state::RequestEvent;
use crate::domain::{Mode, Person, input};
use crate::error::Error;
use crate::events;
use keyholder_kit::auth::{AuthError, Principal, PrincipalKind};
use keyholder_proto::broker::v1::*;
use keyholder_rights::Capability;
use tonic::Request;

/// The helpdesk's scope.
pub(crate) const HELPDESK: &str = "broker.helpdesk";

fn person(p: &Principal) -> Person {
    Person {
        id: p.id.clone(),
        name: p.display_name.clone(),
        email: p.email.clone(),
    }
}

/// The agent a request is for: the calling agent, or the one the helpdesk names.
async fn agent_for(core: &Core, p: &Principal, agent_id: &str) -> Result<Person, Error> {
    if p.kind == PrincipalKind::SupportAgent {
        if !agent_id.is_empty() && agent_id != p.id {
            return Err(AuthError::Forbidden(
                "an agent may ask for access only for themselves".into(),
            )
            .into());
        }
        return Ok(person(p));
    }
    if !p.has_scope(HELPDESK) {
        return Err(AuthError::Forbidden(
            "only a support agent, or the helpdesk on an agent's behalf, may ask for access".into(),
        )
        .into());
    }
    if agent_id.is_empty() {
        return Err(Error::InvalidArgument(
            "agent_id is required when the helpdesk files a request".into(),
        ));
    }
    let u = core.identity.user(agent_id).await?;
    if u.kind != keyholder_proto::identity::v1::PrincipalKind::SupportAgent as i32 || !u.active {
        return Err(Error::InvalidArgument(format!(
            "{agent_id} is not an active support agent"
        )));
    }
    Ok(Person {
        id: u.user_id,
        name: u.display_name,
        email: u.email,
    })
}

pub(super) async fn create(
    core: &Core,
    req: Request<CreateAccessRequestRequest>,
) -> Result<CreateAccessRequestResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let mut r = req.into_inner();
    r.tenant_id = input::tenant_id(&r.tenant_id)?;
    r.agent_id = input::optional_uuid("agent_id", &r.agent_id)?;
    let agent = agent_for(core, p, &r.agent_id).await?;
    require_tenant_exists(core, &r.tenant_id).await?;
    idempotent(core, &p.id, "CreateAccessRequest", &r.request_id, async {
        let ticket_ref = input::required_name("ticket_ref", &r.ticket_ref)?;
        let reason = input::reason(&r.reason)?;
        let scope = scope_in(r.scope)?;
        let kind = if p.kind == PrincipalKind::SupportAgent {
            "support_agent"
        } else {
            "service_account"
        };
        let asked = NewRequest {
            tenant_id: r.tenant_id.clone(),
            ticket_ref,
            reason,
            scope,
            duration: duration("duration", r.duration)?,
        };
        let m = open_request(core, events::actor(&person(p), kind), agent, asked).await?;
        Ok(CreateAccessRequestResponse {
            access_request: Some(request_out(&m, core.now())),
        })
    })
    .await
}

/// Files a request for `agent` under the tenant's settings: shared by
/// CreateAccessRequest and a helpdesk's tagged ticket. Refused while the
/// tenant's support access is closed.
pub(crate) async fn open_request(
    core: &Core,
    requester: keyholder_proto::audit::v1::Actor,
    agent: Person,
    asked: NewRequest,
) -> Result<AccessRequest, Error> {
    let s = core.store.settings(&asked.tenant_id).await?;
    if s.mode == Mode::Closed {
        let label = core.identity.tenant_label(&asked.tenant_id).await;
        return Err(Error::FailedPrecondition(format!(
            "support access to {label} is closed; ask the customer's administrator to open support access"
        )));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let r = AccessRequest::open(id, asked, agent, &requester.actor_id, &s, core.now())?;
    core.store.create_request(&r, requester).await?;
    Ok(r)
}

/// The request, if `p` may see it; one that exists but is not theirs to see
/// is answered exactly like a missing one.
async fn load(core: &Core, p: &Principal, id: &str) -> Result<AccessRequest, Error> {
    let id = input::uuid("access_request_id", id)?;
    core.store
        .request(&id)
        .await?
        .filter(|r| record_visible_to(p, &r.agent.id, &r.tenant_id))
        .ok_or_else(|| Error::NotFound(format!("access request {id} not found")))
}

pub(super) async fn get(
    core: &Core,
    req: Request<GetAccessRequestRequest>,
) -> Result<GetAccessRequestResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let r = load(core, p, &req.get_ref().access_request_id).await?;
    p.require_agent_or_admin_of(&r.agent.id, &r.tenant_id)?;
    Ok(GetAccessRequestResponse {
        access_request: Some(request_out(&r, core.now())),
    })
}

pub(super) async fn list(
    core: &Core,
    req: Request<ListAccessRequestsRequest>,
) -> Result<ListAccessRequestsResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let (f, page) = listing(p, req.get_ref(), request_state_in)?;
    let now = core.now();
    let (rows, next) = core.store.list_requests(&f, page, now).await?;
    Ok(ListAccessRequestsResponse {
        access_requests: rows.iter().map(|m| request_out(m, now)).collect(),
        next_page_token: next,
    })
}

/// The request `id` and the decision's `note`, once `p` may decide it: an
/// approval and a denial ask the same.
async fn to_decide(
    core: &Core,
    p: &Principal,
    id: &str,
    note: &str,
) -> Result<(AccessRequest, String), Error> {
    let m = load(core, p, id).await?;
    require_capability(p, &m.tenant_id, Capability::DecideAccessRequests)?;
    let note = input::optional_text("note", note, input::MAX_NOTE_LEN)?;
    Ok((m, note))
}

pub(super) async fn approve(
    core: &Core,
    req: Request<ApproveAccessRequestRequest>,
) -> Result<ApproveAccessRequestResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let r = req.into_inner();
    let (m, note) = to_decide(core, p, &r.access_request_id, &r.note).await?;
    idempotent(core, &p.id, "ApproveAccessRequest", &r.request_id, async {
        let now = core.now();
        let s = core.store.settings(&m.tenant_id).await?;
        // First, so that a request cancelled by closing is refused for the
        // reason that matters (the store checks again, against a race).
        check_open_for_approval(s.mode)?;
        m.check(RequestEvent::Approve, now)?;
        let narrowed = r.scope.map(|sc| scope_in(Some(sc))).transpose()?;
        let scope = m.scope_to_grant(narrowed)?;
        let rights = core
            .identity
            .role_rights(&m.tenant_id, &scope.roles)
            .await?;
        let scope = scope.resolve(rights);
        let admin = person(p);
        let grant_id = uuid::Uuid::now_v7().to_string();
        let asked = duration("duration", r.duration)?;
        let (g, decided) = m.approve(grant_id, &admin, scope, asked, &note, &s, now)?;
        if !core
            .store
            .approve(&g, &decided, events::actor(&admin, "employee"))
            .await?
        {
            return Err(decided_meanwhile());
        }
        Ok(ApproveAccessRequestResponse {
            access_request: Some(request_out(&decided.request, now)),
            grant: Some(grant_out(&g, now)),
        })
    })
    .await
}

fn decided_meanwhile() -> Error {
    Error::FailedPrecondition("the request was decided or expired meanwhile".into())
}

pub(super) async fn deny(
    core: &Core,
    req: Request<DenyAccessRequestRequest>,
) -> Result<DenyAccessRequestResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let r = req.into_inner();
    let (m, note) = to_decide(core, p, &r.access_request_id, &r.note).await?;
    idempotent(core, &p.id, "DenyAccessRequest", &r.request_id, async {
        let now = core.now();
        let admin = person(p);
        let decided = m.deny(&admin.id, &note, now)?;
        if !core
            .store
            .deny(&decided, events::actor(&admin, "employee"), now)
            .await?
        {
            return Err(decided_meanwhile());
        }
        Ok(DenyAccessRequestResponse {
            access_request: Some(request_out(&decided.request, now)),
        })
    })
    .await
}
