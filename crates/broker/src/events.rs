//! Audit events as broker writes them into its outbox: one builder per kind of
//! subject (request, grant, session), each naming the agent and the granting
//! admin with name and e-mail so audit can e-mail and show people.

use crate::domain::scope::Scope;
use crate::domain::{Person, from_ms};
use crate::store::entities::{grants, requests, sessions};
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

fn agent_of_request(r: &requests::Model) -> Actor {
    Actor {
        actor_id: r.agent_id.clone(),
        kind: "support_agent".into(),
        display_name: r.agent_name.clone(),
        email: r.agent_email.clone(),
    }
}

fn agent_of_grant(g: &grants::Model) -> Actor {
    Actor {
        actor_id: g.agent_id.clone(),
        kind: "support_agent".into(),
        display_name: g.agent_name.clone(),
        email: g.agent_email.clone(),
    }
}

fn granter(g: &grants::Model) -> Actor {
    Actor {
        actor_id: g.granted_by_id.clone(),
        kind: "employee".into(),
        display_name: g.granted_by_name.clone(),
        email: g.granted_by_email.clone(),
    }
}

/// An event about a request.
pub fn for_request(
    kind: EventKind,
    r: &requests::Model,
    actor: Actor,
    now: DateTime<Utc>,
) -> Event {
    let mut e = base(kind, &r.tenant_id, actor, now);
    e.agent = Some(agent_of_request(r));
    e.access_request_id = r.id.clone();
    e.ticket_ref = r.ticket_ref.clone();
    e.reason = r.reason.clone();
    e.grant_id = r.grant_id.clone();
    e.expire_time = Some(timestamp(from_ms(r.expire_at)));
    if !r.decision_note.is_empty() {
        e.attributes.insert("note".into(), r.decision_note.clone());
    }
    e.attributes.insert("scope".into(), scope_attr(&r.scope));
    // expire_time is the decision deadline; the access asked for runs from
    // approval for this long.
    e.attributes
        .insert("duration_secs".into(), r.duration_secs.to_string());
    e
}

/// An event about a grant.
pub fn for_grant(kind: EventKind, g: &grants::Model, actor: Actor, now: DateTime<Utc>) -> Event {
    let mut e = base(kind, &g.tenant_id, actor, now);
    e.agent = Some(agent_of_grant(g));
    e.granted_by = Some(granter(g));
    e.access_request_id = g.access_request_id.clone();
    e.grant_id = g.id.clone();
    e.ticket_ref = g.ticket_ref.clone();
    e.reason = g.reason.clone();
    e.expire_time = Some(timestamp(from_ms(g.expire_at)));
    e.attributes.insert("scope".into(), scope_attr(&g.scope));
    if g.standing {
        e.attributes.insert("standing".into(), "true".into());
    }
    e
}

/// An event about a session (sign-in, sign-out, action).
pub fn for_session(
    kind: EventKind,
    s: &sessions::Model,
    g: &grants::Model,
    now: DateTime<Utc>,
) -> Event {
    let mut e = for_grant(kind, g, agent_of_grant(g), now);
    e.session_id = s.id.clone();
    e.reason = s.reason.clone();
    if !s.end_reason.is_empty() {
        e.attributes
            .insert("end_reason".into(), s.end_reason.clone());
    }
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
