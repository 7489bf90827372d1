//! Acting on a helpdesk webhook: find the connector, check the signature and
//! the replay window, claim the delivery id once, and close the ticket
//! through the same store path as CloseTicket (or, for a ticket carrying the
//! connector's request tag, file an access request for its assignee through
//! the same path as CreateAccessRequest). A refusal changes nothing and is
//! recorded (through the outbox, to audit).

use super::payload::{self, Kind, Mapping, Meaning};
use super::signature::{self, Refusal};
use crate::Core;
use crate::domain::Person;
use crate::domain::input;
use crate::domain::request::NewRequest;
use crate::domain::scope::Scope;
use crate::domain::state::RequestState;
use crate::error::Error;
use crate::events;
use crate::grpc::requests::open_request;
use crate::store::helpdesk::Connector;
use crate::store::requests::RequestFilter;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Actor;
use std::sync::Mutex;

/// The tenant under which refused webhooks are recorded: an unverified
/// webhook names no tenant Keyholder may trust, so they go to the operator's log.
pub const OPERATOR_TENANT: &str = "keyholder-operator";

/// At most this many refusals a minute are recorded in audit; the rest are
/// only logged and counted, so an unauthenticated flood cannot fill the log.
pub const MAX_RECORDED_REFUSALS_PER_MINUTE: u32 = 60;

/// What the HTTP layer answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200: the ticket's access ended.
    Closed {
        /// Grants revoked.
        revoked: usize,
        /// Requests cancelled.
        cancelled: usize,
    },
    /// 200: an access request was filed for the ticket's assignee.
    Requested {
        /// The new request's id.
        access_request_id: String,
    },
    /// 200: the assignee already has a pending request for this ticket.
    AlreadyRequested,
    /// 422: signed and understood, but Keyholder refuses it (support access
    /// closed, no such agent); the helpdesk should not retry.
    Unprocessable(String),
    /// 200: this delivery was already acted on; nothing done again.
    AlreadyProcessed,
    /// 200: not an event Keyholder acts on.
    Ignored(&'static str),
    /// 401: refused and recorded.
    Refused(Refusal),
    /// 400: signed, but the body or a mapped field is unusable.
    BadPayload(String),
    /// 503: a failure on Keyholder's side; the helpdesk should retry.
    Unavailable,
}

/// Counts refusals per minute for [`MAX_RECORDED_REFUSALS_PER_MINUTE`].
#[derive(Default)]
pub struct RefusalBudget(Mutex<(i64, u32)>);

impl RefusalBudget {
    fn take(&self, now_s: i64) -> bool {
        let Ok(mut g) = self.0.lock() else {
            return false;
        };
        let minute = now_s / 60;
        if g.0 != minute {
            *g = (minute, 0);
        }
        g.1 += 1;
        g.1 <= MAX_RECORDED_REFUSALS_PER_MINUTE
    }
}

/// One webhook as it arrived.
pub struct Delivery<'a> {
    /// From the URL path.
    pub connector_id: &'a str,
    /// Reads a header (lowercase name).
    pub header: signature::Header<'a>,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
    /// The peer, for the record.
    pub remote: String,
}

fn helpdesk_actor(c: &Connector) -> Actor {
    Actor {
        actor_id: format!("helpdesk:{}", c.id),
        kind: "service_account".into(),
        display_name: c.display_name.clone(),
        email: String::new(),
    }
}

async fn refuse(core: &Core, budget: &RefusalBudget, d: &Delivery<'_>, why: Refusal) -> Outcome {
    let now = core.now();
    // The id from the URL is only quoted when it looks like one.
    let connector =
        input::uuid("connector_id", d.connector_id).unwrap_or_else(|_| "(malformed)".into());
    tracing::warn!(connector_id = %connector, cause = why.cause(), remote = %d.remote, "helpdesk webhook refused");
    if !budget.take(now.timestamp()) {
        return Outcome::Refused(why);
    }
    let e = events::webhook_refused(OPERATOR_TENANT, connector, why.cause(), &d.remote, now);
    if let Err(err) = core.store.record_event(&e, now).await {
        tracing::error!(error = %err, "could not record a refused helpdesk webhook");
    }
    Outcome::Refused(why)
}

/// Handles one webhook.
pub(crate) async fn handle(core: &Core, budget: &RefusalBudget, d: Delivery<'_>) -> Outcome {
    let Ok(id) = input::uuid("connector_id", d.connector_id) else {
        return refuse(core, budget, &d, Refusal::UnknownConnector).await;
    };
    let c = match core.store.connector(&id).await {
        Ok(Some(c)) => c,
        Ok(None) => return refuse(core, budget, &d, Refusal::UnknownConnector).await,
        Err(e) => {
            tracing::error!(error = %e, "reading a helpdesk connector failed");
            return Outcome::Unavailable;
        }
    };
    let kind = c.kind;
    let secret = match core
        .kek
        .open_str(crate::store::helpdesk::CONNECTOR_SECRET, &c.id, &c.secret)
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(connector_id = %c.id, error = %e, "a connector's secret does not open");
            return Outcome::Unavailable;
        }
    };
    let now = core.now();
    let now_s = now.timestamp();
    let verified = match kind {
        Kind::Zendesk => signature::zendesk(secret.as_bytes(), d.header, d.body, now_s),
        Kind::Jira => signature::jira(secret.as_bytes(), d.header, d.body),
        Kind::Standard => match signature::standard_key(&secret) {
            Some(key) => signature::standard(&key, d.header, d.body, now_s),
            None => Err(Refusal::BadSignature),
        },
    };
    let verified = match verified {
        Ok(v) => v,
        Err(why) => return refuse(core, budget, &d, why).await,
    };
    // The body is the sender's from here on.
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(d.body) else {
        return Outcome::BadPayload("the body is not JSON".into());
    };
    if kind == Kind::Jira
        && let Err(why) = signature::jira_timestamp(payload::jira_timestamp(&json), now_s)
    {
        return refuse(core, budget, &d, why).await;
    }
    let delivery_id = verified
        .delivery_id
        .or_else(|| {
            (kind == Kind::Zendesk)
                .then(|| payload::zendesk_event_id(&json))
                .flatten()
        })
        .unwrap_or_else(|| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(d.body))
        });
    let delivery_id: String = delivery_id.chars().take(200).collect();
    let mapping = Mapping {
        tenant: c.tenant_field.clone(),
        ticket: c.ticket_field.clone(),
        status: c.status_field.clone(),
        agent_email: c.agent_email_field.clone(),
        subject: c.subject_field.clone(),
        tags: c.tags_field.clone(),
        request_tag: c.request_tag.clone(),
    };
    let (tenant, ticket, tagged) = match payload::interpret(kind, &mapping, &json) {
        Meaning::Ignored(why) => return Outcome::Ignored(why),
        Meaning::Closed { tenant, ticket } => (tenant, ticket, None),
        Meaning::Tagged {
            tenant,
            ticket,
            agent_email,
            subject,
        } => (tenant, ticket, Some((agent_email, subject))),
    };
    let tenant = match input::tenant_id(&tenant) {
        Ok(t) => t,
        Err(e) => return Outcome::BadPayload(format!("{} (from {})", e, c.tenant_field)),
    };
    let ticket = match input::required_name("ticket_ref", &ticket) {
        Ok(t) => t,
        Err(e) => return Outcome::BadPayload(e.to_string()),
    };
    let agent = match &tagged {
        None => None,
        Some((email, subject)) => match tagged_request(core, email, subject, &ticket).await {
            Ok(a) => Some(a),
            Err(outcome) => return outcome,
        },
    };
    match core.store.claim_delivery(&c.id, &delivery_id, now).await {
        Ok(true) => {}
        Ok(false) => return Outcome::AlreadyProcessed,
        Err(e) => {
            tracing::error!(error = %e, "claiming a helpdesk delivery failed");
            return Outcome::Unavailable;
        }
    }
    if let Some((agent, reason)) = agent {
        let outcome = request_access(core, &c, agent, &tenant, &ticket, reason).await;
        if outcome == Outcome::Unavailable {
            core.store.release_delivery(&c.id, &delivery_id).await;
        }
        return outcome;
    }
    match core
        .store
        .close_ticket(&tenant, &ticket, helpdesk_actor(&c), now)
        .await
    {
        Ok((revoked, cancelled)) => {
            tracing::info!(connector_id = %c.id, tenant_id = %tenant, revoked = revoked.len(), cancelled = cancelled.len(), "helpdesk closed a ticket");
            Outcome::Closed {
                revoked: revoked.len(),
                cancelled: cancelled.len(),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "closing a ticket from a helpdesk webhook failed");
            // Let the helpdesk's retry act.
            core.store.release_delivery(&c.id, &delivery_id).await;
            Outcome::Unavailable
        }
    }
}

/// The support agent a tagged ticket names, and the request's reason.
async fn tagged_request(
    core: &Core,
    email: &str,
    subject: &str,
    ticket: &str,
) -> Result<(Person, String), Outcome> {
    let email = keyholder_rights::input::email("assignee e-mail", email)
        .map_err(|e| Outcome::BadPayload(e.to_string()))?;
    let agent = match core.identity.support_agent_by_email(&email).await {
        Ok(Some(u)) => Person {
            id: u.user_id,
            name: u.display_name,
            email: u.email,
        },
        Ok(None) => {
            return Err(Outcome::Unprocessable(
                "the ticket's assignee is not an active support agent".into(),
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "looking up a ticket's assignee failed");
            return Err(Outcome::Unavailable);
        }
    };
    // The subject becomes the reason; the ticket keeps it meaningful and
    // long enough when the subject is short or empty.
    let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
    let reason = format!("Helpdesk ticket {ticket}: {}", subject.trim());
    let reason = input::reason(
        &reason
            .chars()
            .take(input::MAX_REASON_LEN)
            .collect::<String>(),
    )
    .map_err(|e| Outcome::BadPayload(e.to_string()))?;
    Ok((agent, reason))
}

/// Files the tagged ticket's access request, unless one is pending.
async fn request_access(
    core: &Core,
    c: &Connector,
    agent: Person,
    tenant: &str,
    ticket: &str,
    reason: String,
) -> Outcome {
    let now = core.now();
    let pending = RequestFilter {
        tenant_id: Some(tenant.to_string()),
        agent_id: Some(agent.id.clone()),
        state: Some(RequestState::Pending),
        ticket_ref: Some(ticket.to_string()),
    };
    match core
        .store
        .list_requests(
            &pending,
            Page {
                limit: 1,
                offset: 0,
            },
            now,
        )
        .await
    {
        Ok((rows, _)) if !rows.is_empty() => return Outcome::AlreadyRequested,
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "reading pending requests failed");
            return Outcome::Unavailable;
        }
    }
    match core.identity.tenant_exists(tenant).await {
        Ok(true) => {}
        Ok(false) => return Outcome::Unprocessable("no such tenant".into()),
        Err(_) => return Outcome::Unavailable,
    }
    let asked = NewRequest {
        tenant_id: tenant.to_string(),
        ticket_ref: ticket.to_string(),
        reason,
        scope: Scope::read_only(),
        duration: None,
    };
    match open_request(core, helpdesk_actor(c), agent, asked).await {
        Ok(r) => Outcome::Requested {
            access_request_id: r.id,
        },
        Err(Error::FailedPrecondition(why)) | Err(Error::InvalidArgument(why)) => {
            Outcome::Unprocessable(why)
        }
        Err(e) => {
            tracing::error!(error = %e, "filing a helpdesk access request failed");
            Outcome::Unavailable
        }
    }
}
