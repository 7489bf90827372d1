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

/// Builds entries (in the order of `entries`) from sign-in/refused events and
/// the sign-out events of their sessions.
pub fn build(entries: Vec<NewEvent>, sign_outs: Vec<NewEvent>) -> Vec<LoginEntry> {
    let mut ends: HashMap<String, NewEvent> = HashMap::new();
    for e in sign_outs {
        // The first sign-out of a session wins; later ones are repeats.
        ends.entry(e.session_id.clone()).or_insert(e);
    }
    entries
        .into_iter()
        .map(|e| {
            let succeeded = e.kind == Kind::SignIn;
            let end = if succeeded && !e.session_id.is_empty() {
                ends.get(&e.session_id)
            } else {
                None
            };
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
                sign_out_time: end.map(|s| s.occur_time),
                reason: e.reason.clone(),
                granted_by: e.granted_by.clone(),
                ticket_ref: e.ticket_ref.clone(),
                grant_id: e.grant_id.clone(),
                succeeded,
                refusal,
                end_reason: end
                    .map(|s| {
                        s.attributes
                            .get(END_REASON_ATTRIBUTE)
                            .cloned()
                            .unwrap_or_else(|| s.reason.clone())
                    })
                    .unwrap_or_default(),
            }
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
}
