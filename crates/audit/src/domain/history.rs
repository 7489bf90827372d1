//! The support login history (Vtiger's fields) built from sign-in, refused
//! sign-in and sign-out events, joined by session id.
//!
//! Producer contract: a refused sign-in carries the refusal in the attribute
//! `refusal`; a sign-out carries why the session ended in `end_reason` (or,
//! failing that, in `reason`).

use super::event::{Actor, Kind, NewEvent};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Attribute holding the refusal of a SIGN_IN_REFUSED event.
pub const REFUSAL_ATTRIBUTE: &str = "refusal";
/// Attribute holding why a session ended, on SIGN_OUT.
pub const END_REASON_ATTRIBUTE: &str = "end_reason";

/// One row of the login history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEntry {
    /// Session; empty for a refused attempt.
    pub session_id: String,
    /// The agent.
    pub accessed_by: Option<Actor>,
    /// Sign-in (or attempt) time.
    pub sign_in_time: DateTime<Utc>,
    /// Sign-out time, once the session ended.
    pub sign_out_time: Option<DateTime<Utc>>,
    /// Reason for login.
    pub reason: String,
    /// Access granted by.
    pub granted_by: Option<Actor>,
    /// Ticket.
    pub ticket_ref: String,
    /// Grant.
    pub grant_id: String,
    /// False for a refused attempt.
    pub succeeded: bool,
    /// The refusal, for refused attempts.
    pub refusal: String,
    /// Why the session ended.
    pub end_reason: String,
}

/// What one event does to the login read model (one row per sign-in or
/// refused attempt, closed by its session's first sign-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// A sign-in or a refused attempt: a new row, still open.
    Open(Box<LoginEntry>),
    /// A sign-out: closes the open rows of its session.
    Close {
        /// The session that ended.
        session_id: String,
        /// When.
        sign_out_time: DateTime<Utc>,
        /// Why.
        end_reason: String,
    },
}

/// The read model's part of an event; `None` for kinds it ignores (and for
/// a sign-out without a session, which closes nothing).
pub fn project(e: &NewEvent) -> Option<Projection> {
    match e.kind {
        Kind::SignIn | Kind::SignInRefused => Some(Projection::Open(Box::new(open_entry(e)))),
        Kind::SignOut if !e.session_id.is_empty() => Some(Projection::Close {
            session_id: e.session_id.clone(),
            sign_out_time: e.occur_time,
            end_reason: end_reason(e),
        }),
        _ => None,
    }
}

/// Why a session ended, as its sign-out says.
fn end_reason(sign_out: &NewEvent) -> String {
    sign_out
        .attributes
        .get(END_REASON_ATTRIBUTE)
        .cloned()
        .unwrap_or_else(|| sign_out.reason.clone())
}

/// The entry of a sign-in or refused attempt, before any sign-out.
fn open_entry(e: &NewEvent) -> LoginEntry {
    let succeeded = e.kind == Kind::SignIn;
    let refusal = if succeeded {
        String::new()
    } else {
        e.attributes
            .get(REFUSAL_ATTRIBUTE)
            .cloned()
            .unwrap_or_else(|| "refused".to_string())
    };
    LoginEntry {
        session_id: if succeeded {
            e.session_id.clone()
        } else {
            String::new()
        },
        accessed_by: e.agent.clone().or_else(|| e.actor.clone()),
        sign_in_time: e.occur_time,
        sign_out_time: None,
        reason: e.reason.clone(),
        granted_by: e.granted_by.clone(),
        ticket_ref: e.ticket_ref.clone(),
        grant_id: e.grant_id.clone(),
        succeeded,
        refusal,
        end_reason: String::new(),
    }
}

impl LoginEntry {
    /// Whether a sign-out of `session_id` ends this entry: only a succeeded
    /// sign-in with that (non-empty) session, not yet ended.
    pub fn is_closed_by(&self, session_id: &str) -> bool {
        self.succeeded
            && !self.session_id.is_empty()
            && self.session_id == session_id
            && self.sign_out_time.is_none()
    }
}

/// Builds entries (in the order of `entries`) from sign-in/refused events and
/// the sign-out events of their sessions (in sequence order: the first
/// sign-out of a session wins; later ones are repeats). The read model must
/// agree with this for the same events.
pub fn build(entries: Vec<NewEvent>, sign_outs: Vec<NewEvent>) -> Vec<LoginEntry> {
    let mut ends: HashMap<String, NewEvent> = HashMap::new();
    for e in sign_outs {
        ends.entry(e.session_id.clone()).or_insert(e);
    }
    entries
        .iter()
        .map(|e| {
            let mut entry = open_entry(e);
            if let Some(end) = ends.get(&e.session_id)
                && entry.is_closed_by(&end.session_id)
            {
                entry.sign_out_time = Some(end.occur_time);
                entry.end_reason = end_reason(end);
            }
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::tests::sample;

    #[test]
    fn joins_sign_out_and_reads_refusals() {
        let sign_in = sample("e1");
        let mut out = sample("e2");
        out.kind = Kind::SignOut;
        out.occur_time += chrono::Duration::minutes(30);
        out.attributes
            .insert(END_REASON_ATTRIBUTE.into(), "signed out".into());
        let mut refused = sample("e3");
        refused.kind = Kind::SignInRefused;
        refused.session_id = String::new();
        refused
            .attributes
            .insert(REFUSAL_ATTRIBUTE.into(), "no active grant".into());
        let rows = build(vec![sign_in.clone(), refused], vec![out.clone()]);
        assert_eq!(rows[0].sign_out_time, Some(out.occur_time));
        assert_eq!(rows[0].end_reason, "signed out");
        assert!(rows[0].succeeded);
        assert_eq!(rows[1].refusal, "no active grant");
        assert!(!rows[1].succeeded);
        assert_eq!(rows[1].sign_out_time, None);
    }

    /// Applies projections in sequence order the way the store does.
    fn replay(events: &[NewEvent]) -> Vec<LoginEntry> {
        let mut rows: Vec<LoginEntry> = Vec::new();
        for e in events {
            match project(e) {
                Some(Projection::Open(entry)) => rows.push(*entry),
                Some(Projection::Close {
                    session_id,
                    sign_out_time,
                    end_reason,
                }) => {
                    for r in rows.iter_mut().filter(|r| r.is_closed_by(&session_id)) {
                        r.sign_out_time = Some(sign_out_time);
                        r.end_reason = end_reason.clone();
                    }
                }
                None => {}
            }
        }
        rows
    }

    #[test]
    fn projecting_in_order_equals_the_joined_history() {
        let sign_in = sample("e1");
        let mut revoked = sample("e2");
        revoked.kind = Kind::SignOut;
        revoked.occur_time += chrono::Duration::minutes(5);
        revoked.reason = "grant revoked".into();
        let mut repeat = revoked.clone();
        repeat.event_id = "e3".into();
        repeat.occur_time += chrono::Duration::minutes(1);
        repeat.reason = "again".into();
        let mut refused = sample("e4");
        refused.kind = Kind::SignInRefused;
        let mut action = sample("e5");
        action.kind = Kind::Action;
        let mut other = sample("e6");
        other.session_id = "s2".into();
        let events = vec![
            sign_in.clone(),
            action,
            revoked.clone(),
            repeat.clone(),
            refused.clone(),
            other.clone(),
        ];
        let joined = build(vec![sign_in, refused, other], vec![revoked.clone(), repeat]);
        assert_eq!(replay(&events), joined);
        assert_eq!(joined[0].end_reason, "grant revoked");
        assert_eq!(joined[0].sign_out_time, Some(revoked.occur_time));
        assert_eq!(joined[2].sign_out_time, None);
    }

    #[test]
    fn a_sign_out_without_session_closes_nothing() {
        let mut out = sample("e1");
        out.kind = Kind::SignOut;
        out.session_id = String::new();
        assert_eq!(project(&out), None);
    }
}
