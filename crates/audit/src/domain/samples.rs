//! Sample events, one per kind of mail, as broker writes them: used by the
//! tests that check every mail's facts and by the `render_mails` example
//! that writes the samples in `docs/mail/`.

use super::event::{Actor, Kind, NewEvent};
use chrono::{DateTime, Duration, Utc};

/// 2023-11-14 22:13:20 UTC.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

fn person(id: &str, kind: &str, name: &str, email: &str) -> Actor {
    Actor {
        id: id.into(),
        kind: kind.into(),
        name: name.into(),
        email: email.into(),
    }
}

/// A sample of the event broker writes for `kind`, with a 7-day request decided within
/// 24 hours and a grant that ends 7 days after approval.
pub fn event(kind: Kind) -> NewEvent {
    let admin = person("u-admin", "employee", "Carl <Chief>", "carl@acme.example");
    let agent = person("a1", "support_agent", "Ann Agent", "ann@vendor.example");
    let mut e = NewEvent {
        event_id: "e1".into(),
        tenant_id: "t1".into(),
        kind,
        occur_time: t0(),
        actor: Some(admin.clone()),
        agent: Some(agent),
        granted_by: None,
        access_request_id: "r-1".into(),
        grant_id: String::new(),
        session_id: String::new(),
        ticket_ref: "T-42".into(),
        reason: "fix import".into(),
        entity: String::new(),
        action: String::new(),
        allowed: false,
        expire_time: None,
        source: "broker".into(),
        attributes: [(
            "scope".to_string(),
            r#"{"read_only":true,"roles":["crm_viewer"],"rights":[],"effective":[]}"#.to_string(),
        )]
        .into_iter()
        .collect(),
    };
    let system = person("keyholder-broker", "system", "Keyholder", "");
    match kind {
        Kind::RequestCreated
        | Kind::RequestExpiring
        | Kind::RequestExpired
        | Kind::RequestDenied => {
            e.expire_time = Some(t0() + Duration::hours(24));
            e.attributes
                .insert("duration_secs".into(), (7 * 86_400).to_string());
            if kind == Kind::RequestCreated {
                e.actor = Some(person("helpdesk", "service_account", "helpdesk", ""));
            }
            if matches!(kind, Kind::RequestExpiring | Kind::RequestExpired) {
                e.actor = Some(system);
            }
            if kind == Kind::RequestDenied {
                e.attributes.insert("note".into(), "not now".into());
            }
        }
        _ => {
            e.grant_id = "g-1".into();
            e.granted_by = Some(admin);
            e.expire_time = Some(t0() + Duration::days(7));
        }
    }
    match kind {
        Kind::RequestApproved => {
            e.attributes.insert("note".into(), "go ahead".into());
        }
        Kind::GrantExtended => {
            e.expire_time = Some(t0() + Duration::days(10));
            e.attributes.insert(
                "previous_expire_time".into(),
                (t0() + Duration::days(7)).to_rfc3339(),
            );
        }
        Kind::GrantEnding => {
            e.actor = Some(person("keyholder-broker", "system", "Keyholder", ""));
            e.expire_time = Some(t0() + Duration::hours(1));
        }
        Kind::GrantExpired => {
            e.actor = Some(person("keyholder-broker", "system", "Keyholder", ""));
            e.expire_time = Some(t0());
            e.attributes.insert("end_cause".into(), "expired".into());
        }
        Kind::GrantRevoked => {
            e.attributes.insert("end_cause".into(), "revoked".into());
            e.attributes
                .insert("end_reason".into(), "work is done".into());
        }
        Kind::SignIn => {
            e.actor = e.agent.clone();
            e.reason = "look at the import log".into();
        }
        _ => {}
    }
    e
}
