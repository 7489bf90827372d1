//! Audit events as broker writes them into its outbox, built here and only
//! here from domain values and outcomes (a decided request, an ended grant,
//! changed settings…), each naming the agent and the granting admin with
//! name and e-mail so audit can e-mail and show people. The store writes
//! them in the transaction of the change; handlers never shape an event.

use crate::cache::SessionState;
use crate::domain::Person;
use crate::domain::grant::{EndedGrant, Extended, Grant};
use crate::domain::limits::Settings;
use crate::domain::request::{AccessRequest, Decided};
use crate::domain::scope::Scope;
use crate::domain::session::Session;
use crate::domain::state::{GrantState, RequestEvent};
use chrono::{DateTime, Utc};
use keyholder_proto::audit::v1::{Actor, Event, EventKind};

/// `source` of every broker event.
pub const SOURCE: &str = "broker";

/// A protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Someone acting: `kind` is `employee`, `support_agent`, `service_account`, `system`.
pub fn actor(p: &Person, kind: &str) -> Actor {
    Actor {
        actor_id: p.id.clone(),
        kind: kind.to_string(),
        display_name: p.name.clone(),
        email: p.email.clone(),
    }
}

/// The broker itself (sweeper, ticket closing by the helpdesk's account is a
/// service account instead).
pub fn system() -> Actor {
    Actor {
        actor_id: "keyholder-broker".into(),
        kind: "system".into(),
        display_name: "Keyholder".into(),
        email: String::new(),
    }
}

/// Longest `scope` attribute written into an event. Audit accepts 16 000
/// bytes of attributes in all; what a caller asks for stays well below this,
/// but rights resolved from large roles may not.
pub const MAX_SCOPE_ATTR: usize = 6000;

/// A stored scope (JSON) as an event attribute: whole when small enough,
/// otherwise without the resolved rights (their count is kept).
pub fn scope_attr(json: &str) -> String {
    if json.len() <= MAX_SCOPE_ATTR {
        return json.to_string();
    }
    let Ok(scope) = serde_json::from_str::<Scope>(json) else {
        return "{}".into();
    };
    let short = serde_json::json!({
        "read_only": scope.read_only,
        "roles": scope.roles,
        "rights": scope.rights,
        "effective_count": scope.effective.len(),
    })
    .to_string();
    if short.len() <= MAX_SCOPE_ATTR {
        short
    } else {
        serde_json::json!({ "effective_count": scope.effective.len() }).to_string()
    }
}

/// A new event with a fresh id.
pub fn base(kind: EventKind, tenant_id: &str, actor: Actor, now: DateTime<Utc>) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        kind: kind as i32,
        occur_time: Some(timestamp(now)),
        actor: Some(actor),
        source: SOURCE.into(),
        ..Event::default()
    }
}

fn agent(p: &Person) -> Actor {
    actor(p, "support_agent")
}

fn scope_json(s: &Scope) -> String {
    // A scope is plain data; serialising it cannot fail, and an event
    // without it would still be worth more than none.
    serde_json::to_string(s).unwrap_or_else(|_| "{}".into())
}

/// An event about a request.
pub fn for_request(kind: EventKind, r: &AccessRequest, actor: Actor, now: DateTime<Utc>) -> Event {
    let mut e = base(kind, &r.tenant_id, actor, now);
    e.agent = Some(agent(&r.agent));
    e.access_request_id = r.id.clone();
    e.ticket_ref = r.ticket_ref.clone();
    e.reason = r.reason.clone();
    e.grant_id = r.grant_id.clone();
    e.expire_time = Some(timestamp(r.expire_at));
    if !r.decision_note.is_empty() {
        e.attributes.insert("note".into(), r.decision_note.clone());
    }
    e.attributes
        .insert("scope".into(), scope_attr(&scope_json(&r.scope)));
    // expire_time is the decision deadline; the access asked for runs from
    // approval for this long.
    e.attributes
        .insert("duration_secs".into(), r.duration.num_seconds().to_string());
    e
}

/// An event about a grant.
pub fn for_grant(kind: EventKind, g: &Grant, actor: Actor, now: DateTime<Utc>) -> Event {
    let mut e = base(kind, &g.tenant_id, actor, now);
    e.agent = Some(agent(&g.agent));
    e.granted_by = Some(self::actor(&g.granted_by, "employee"));
    e.access_request_id = g.access_request_id.clone();
    e.grant_id = g.id.clone();
    e.ticket_ref = g.ticket_ref.clone();
    e.reason = g.reason.clone();
    e.expire_time = Some(timestamp(g.expire_at));
    e.attributes
        .insert("scope".into(), scope_attr(&scope_json(&g.scope)));
    if g.standing {
        e.attributes.insert("standing".into(), "true".into());
    }
    e
}

/// An event about a session (sign-in, sign-out).
pub fn for_session(kind: EventKind, s: &Session, g: &Grant, now: DateTime<Utc>) -> Event {
    let mut e = for_grant(kind, g, agent(&g.agent), now);
    e.session_id = s.id.clone();
    e.reason = s.reason.clone();
    if !s.end_reason.is_empty() {
        e.attributes
            .insert("end_reason".into(), s.end_reason.clone());
    }
    e
}

/// A request was filed by `requester`.
pub fn request_opened(r: &AccessRequest, requester: Actor) -> Event {
    for_request(EventKind::RequestCreated, r, requester, r.created_at)
}

/// A request was approved: the event names the new grant.
pub fn request_approved(g: &Grant, d: &Decided, admin: Actor) -> Event {
    let mut e = for_grant(EventKind::RequestApproved, g, admin, g.created_at);
    if !d.request.decision_note.is_empty() {
        e.attributes
            .insert("note".into(), d.request.decision_note.clone());
    }
    e
}

/// A request was denied, expired or cancelled (approval: [`request_approved`]).
pub fn request_decided(d: &Decided, actor: Actor, now: DateTime<Utc>) -> Event {
    let kind = match d.event {
        RequestEvent::Approve => EventKind::RequestApproved,
        RequestEvent::Deny => EventKind::RequestDenied,
        RequestEvent::Expire => EventKind::RequestExpired,
        RequestEvent::Cancel => EventKind::RequestCancelled,
    };
    for_request(kind, &d.request, actor, now)
}

/// A pending request's reminder.
pub fn request_reminder(r: &AccessRequest, now: DateTime<Utc>) -> Event {
    for_request(EventKind::RequestExpiring, r, system(), now)
}

/// A grant's end moved.
pub fn grant_extended(x: &Extended, admin: Actor, now: DateTime<Utc>) -> Event {
    let mut e = for_grant(EventKind::GrantExtended, &x.grant, admin, now);
    e.attributes
        .insert("previous_expire_time".into(), x.previous_end.to_rfc3339());
    e
}

/// A grant ended (revoked or expired).
pub fn grant_ended(x: &EndedGrant, actor: Actor, now: DateTime<Utc>) -> Event {
    let kind = if x.grant.state == GrantState::Expired {
        EventKind::GrantExpired
    } else {
        EventKind::GrantRevoked
    };
    let mut e = for_grant(kind, &x.grant, actor, now);
    if !x.why.is_empty() {
        e.attributes.insert("end_reason".into(), x.why.clone());
    }
    // Which end, for the mail: revoked, ticket-closed, support-access-closed, expired.
    e.attributes
        .insert("end_cause".into(), x.cause.as_str().to_string());
    e
}

/// A grant ends soon.
pub fn grant_ending(g: &Grant, now: DateTime<Utc>) -> Event {
    for_grant(EventKind::GrantEnding, g, system(), now)
}

/// A session opened.
pub fn signed_in(s: &Session, g: &Grant, now: DateTime<Utc>) -> Event {
    for_session(EventKind::SignIn, s, g, now)
}

/// A session ended.
pub fn signed_out(s: &Session, g: &Grant, now: DateTime<Utc>) -> Event {
    for_session(EventKind::SignOut, s, g, now)
}

/// A tenant's settings changed.
pub fn settings_changed(
    old: &Settings,
    new: &Settings,
    admin: &Person,
    now: DateTime<Utc>,
) -> Event {
    let mut e = base(
        EventKind::ModeChanged,
        &new.tenant_id,
        actor(admin, "employee"),
        now,
    );
    let attrs = [
        ("mode", new.mode.as_str().to_string()),
        ("previous_mode", old.mode.as_str().to_string()),
        (
            "request_ttl_secs",
            new.request_ttl.num_seconds().to_string(),
        ),
        (
            "default_grant_secs",
            new.default_grant.num_seconds().to_string(),
        ),
        ("max_grant_secs", new.max_grant.num_seconds().to_string()),
        (
            "standing_scope",
            scope_attr(&scope_json(&new.standing_scope)),
        ),
    ];
    for (k, v) in attrs {
        e.attributes.insert(k.into(), v);
    }
    e
}

/// A refused sign-in of `agent` to `tenant_id`.
pub fn sign_in_refused(
    tenant_id: &str,
    agent_person: &Person,
    reason: &str,
    cause: &str,
    grant_id: &str,
    now: DateTime<Utc>,
) -> Event {
    let a = agent(agent_person);
    let mut e = base(EventKind::SignInRefused, tenant_id, a.clone(), now);
    e.agent = Some(a);
    e.reason = reason.to_string();
    e.grant_id = grant_id.to_string();
    e.attributes.insert("refusal".into(), cause.to_string());
    e
}

/// What a session did (a checked or reported action).
pub fn action(
    st: &SessionState,
    entity: &str,
    action: &str,
    allowed: bool,
    now: DateTime<Utc>,
) -> Event {
    let a = agent(&st.agent);
    let mut e = base(EventKind::Action, &st.tenant_id, a.clone(), now);
    e.agent = Some(a);
    e.granted_by = Some(self::actor(&st.granted_by, "employee"));
    e.grant_id = st.grant_id.clone();
    e.session_id = st.session_id.clone();
    e.ticket_ref = st.ticket_ref.clone();
    e.reason = st.reason.clone();
    e.entity = entity.to_string();
    e.action = action.to_string();
    e.allowed = allowed;
    e
}

/// An action a backend reported, as [`reported_action`] records it.
pub struct Reported<'a> {
    /// The event's id (stable per retry key).
    pub event_id: String,
    /// Entity.
    pub entity: &'a str,
    /// Action.
    pub action: &'a str,
    /// Whether the scope allows it.
    pub allowed: bool,
    /// The record acted on, if named.
    pub resource_id: String,
    /// What was done, if told.
    pub detail: String,
}

/// What a session did, as its backend reported it.
pub fn reported_action(st: &SessionState, r: Reported<'_>, now: DateTime<Utc>) -> Event {
    let mut e = action(st, r.entity, r.action, r.allowed, now);
    e.event_id = r.event_id;
    if !r.resource_id.is_empty() {
        e.attributes.insert("resource_id".into(), r.resource_id);
    }
    if !r.detail.is_empty() {
        e.attributes.insert("detail".into(), r.detail);
    }
    e.attributes.insert("reported".into(), "true".into());
    e
}

/// A helpdesk webhook refused, recorded under `tenant_id`.
pub fn webhook_refused(
    tenant_id: &str,
    connector: String,
    cause: &str,
    remote: &str,
    now: DateTime<Utc>,
) -> Event {
    let mut e = base(EventKind::WebhookRefused, tenant_id, system(), now);
    e.attributes.insert("connector_id".into(), connector);
    e.attributes.insert("cause".into(), cause.into());
    e.attributes
        .insert("remote_addr".into(), remote.chars().take(64).collect());
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scope::Right;

    #[test]
    fn large_scopes_are_shortened_for_events() {
        let small = serde_json::to_string(&Scope::read_only()).unwrap_or_default();
        assert_eq!(scope_attr(&small), small);
        let mut big = Scope::read_only();
        big.effective = (0..2000)
            .map(|i| Right {
                entity: format!("crm.entity{i}"),
                action: "read".into(),
            })
            .collect();
        let json = serde_json::to_string(&big).unwrap_or_default();
        assert!(json.len() > MAX_SCOPE_ATTR);
        let attr = scope_attr(&json);
        assert!(attr.len() <= MAX_SCOPE_ATTR);
        assert!(attr.contains("\"effective_count\":2000"), "{attr}");
    }
}
