//! Rows ↔ domain values for requests, grants and sessions (as `settings.rs`
//! does for settings). Instants go through `keyholder_kit::instant`; a row
//! that does not read back is an error, never a default.

use super::entities::{grants, requests, sessions};
use crate::domain::Person;
use crate::domain::grant::Grant;
use crate::domain::request::AccessRequest;
use crate::domain::scope::Scope;
use crate::domain::session::Session;
use crate::domain::state::{GrantState, RequestState};
use crate::error::Error;
use chrono::{DateTime, Duration, Utc};
use keyholder_kit::instant::{from_stored, to_stored};

fn at(us: i64) -> Result<DateTime<Utc>, Error> {
    Ok(from_stored(us)?)
}

fn maybe_at(us: Option<i64>) -> Result<Option<DateTime<Utc>>, Error> {
    us.map(at).transpose()
}

/// A stored scope (JSON).
pub(crate) fn scope_from(json: &str) -> Result<Scope, Error> {
    serde_json::from_str(json).map_err(|e| Error::Stored(format!("scope: {e}")))
}

/// A scope as stored (JSON).
pub(crate) fn scope_json(s: &Scope) -> Result<String, Error> {
    serde_json::to_string(s).map_err(|e| Error::Internal(format!("scope to JSON: {e}")))
}

/// A request row as a domain value.
pub fn request_from(m: requests::Model) -> Result<AccessRequest, Error> {
    Ok(AccessRequest {
        state: RequestState::parse(&m.state)
            .ok_or_else(|| Error::Stored(format!("request state {:?}", m.state)))?,
        scope: scope_from(&m.scope)?,
        duration: Duration::seconds(m.duration_secs),
        created_at: at(m.created_at_us)?,
        expire_at: at(m.expire_at_us)?,
        remind_at: at(m.remind_at_us)?,
        decided_at: maybe_at(m.decided_at_us)?,
        id: m.id,
        tenant_id: m.tenant_id,
        agent: Person {
            id: m.agent_id,
            name: m.agent_name,
            email: m.agent_email,
        },
        requested_by: m.requested_by,
        ticket_ref: m.ticket_ref,
        reason: m.reason,
        reminded: m.reminded,
        decided_by: m.decided_by,
        decision_note: m.decision_note,
        grant_id: m.grant_id,
    })
}

/// A request as its row.
pub fn request_row(r: &AccessRequest) -> Result<requests::Model, Error> {
    Ok(requests::Model {
        id: r.id.clone(),
        tenant_id: r.tenant_id.clone(),
        agent_id: r.agent.id.clone(),
        agent_name: r.agent.name.clone(),
        agent_email: r.agent.email.clone(),
        requested_by: r.requested_by.clone(),
        ticket_ref: r.ticket_ref.clone(),
        reason: r.reason.clone(),
        scope: scope_json(&r.scope)?,
        duration_secs: r.duration.num_seconds(),
        state: r.state.as_str().into(),
        created_at_us: to_stored(r.created_at),
        expire_at_us: to_stored(r.expire_at),
        remind_at_us: to_stored(r.remind_at),
        reminded: r.reminded,
        decided_by: r.decided_by.clone(),
        decided_at_us: r.decided_at.map(to_stored),
        decision_note: r.decision_note.clone(),
        grant_id: r.grant_id.clone(),
    })
}

/// A grant row as a domain value.
pub fn grant_from(m: grants::Model) -> Result<Grant, Error> {
    Ok(Grant {
        state: GrantState::parse(&m.state)
            .ok_or_else(|| Error::Stored(format!("grant state {:?}", m.state)))?,
        scope: scope_from(&m.scope)?,
        created_at: at(m.created_at_us)?,
        expire_at: at(m.expire_at_us)?,
        ended_at: maybe_at(m.ended_at_us)?,
        credential_used_at: maybe_at(m.credential_used_at_us)?,
        ending_notice_for: maybe_at(m.ending_notice_for_us)?,
        id: m.id,
        tenant_id: m.tenant_id,
        agent: Person {
            id: m.agent_id,
            name: m.agent_name,
            email: m.agent_email,
        },
        access_request_id: m.access_request_id,
        ticket_ref: m.ticket_ref,
        reason: m.reason,
        standing: m.standing,
        granted_by: Person {
            id: m.granted_by_id,
            name: m.granted_by_name,
            email: m.granted_by_email,
        },
        revoked_by: m.revoked_by,
        credential_hash: m.credential_hash,
    })
}

/// A grant as its row.
pub fn grant_row(g: &Grant) -> Result<grants::Model, Error> {
    Ok(grants::Model {
        id: g.id.clone(),
        tenant_id: g.tenant_id.clone(),
        agent_id: g.agent.id.clone(),
        agent_name: g.agent.name.clone(),
        agent_email: g.agent.email.clone(),
        access_request_id: g.access_request_id.clone(),
        ticket_ref: g.ticket_ref.clone(),
        reason: g.reason.clone(),
        scope: scope_json(&g.scope)?,
        state: g.state.as_str().into(),
        standing: g.standing,
        granted_by_id: g.granted_by.id.clone(),
        granted_by_name: g.granted_by.name.clone(),
        granted_by_email: g.granted_by.email.clone(),
        created_at_us: to_stored(g.created_at),
        expire_at_us: to_stored(g.expire_at),
        ended_at_us: g.ended_at.map(to_stored),
        revoked_by: g.revoked_by.clone(),
        credential_hash: g.credential_hash.clone(),
        credential_used_at_us: g.credential_used_at.map(to_stored),
        ending_notice_for_us: g.ending_notice_for.map(to_stored),
    })
}

/// A session row as a domain value.
pub fn session_from(m: sessions::Model) -> Result<Session, Error> {
    Ok(Session {
        signed_in_at: at(m.signed_in_at_us)?,
        ended_at: maybe_at(m.ended_at_us)?,
        id: m.id,
        tenant_id: m.tenant_id,
        agent_id: m.agent_id,
        grant_id: m.grant_id,
        reason: m.reason,
        end_reason: m.end_reason,
        refresh_hash: m.refresh_hash,
    })
}

/// A session as its row.
pub fn session_row(s: &Session) -> sessions::Model {
    sessions::Model {
        id: s.id.clone(),
        tenant_id: s.tenant_id.clone(),
        agent_id: s.agent_id.clone(),
        grant_id: s.grant_id.clone(),
        reason: s.reason.clone(),
        signed_in_at_us: to_stored(s.signed_in_at),
        ended_at_us: s.ended_at.map(to_stored),
        end_reason: s.end_reason.clone(),
        refresh_hash: s.refresh_hash.clone(),
    }
}
