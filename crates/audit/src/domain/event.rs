//! An event's content as audit stores and hashes it: one canonical JSON form
//! (fixed field order, attributes sorted, times in UTC with microseconds), so
//! the same event always serializes to the same bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use keyholder_rights::InputError;
use keyholder_rights::input;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most events one ingest call may carry.
pub const MAX_BATCH: usize = keyholder_kit::outbox::audit::INGEST_LIMIT;
/// Longest free-text field (reason, attributes) accepted.
const MAX_TEXT_LEN: usize = 4000;

/// An event's canonical content could not be serialised.
#[derive(Debug, thiserror::Error)]
#[error("event {event_id}: cannot write its canonical content: {source}")]
pub struct CanonicalError {
    /// The event.
    pub event_id: String,
    /// What serde_json said.
    #[source]
    pub source: serde_json::Error,
}

/// What happened (mirrors the contract's `EventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// Support-access mode or limits changed.
    ModeChanged,
    /// An agent asked for access.
    RequestCreated,
    /// A pending request will expire soon.
    RequestExpiring,
    /// A pending request expired undecided.
    RequestExpired,
    /// A request was approved.
    RequestApproved,
    /// A request was denied.
    RequestDenied,
    /// A pending request was cancelled.
    RequestCancelled,
    /// A grant was extended.
    GrantExtended,
    /// A grant expired.
    GrantExpired,
    /// A grant was revoked.
    GrantRevoked,
    /// An agent signed in.
    SignIn,
    /// An agent's sign-in was refused.
    SignInRefused,
    /// A support session ended.
    SignOut,
    /// A decision or action during a session.
    Action,
    /// An identity change.
    IdentityChanged,
    /// A partner's employee was invited as an integrator (audit e-mails them).
    IntegratorInvited,
    /// A grant ends soon (sent once per grant end, a configured time before it).
    GrantEnding,
    /// Broker refused a helpdesk webhook (recorded in the operator's log).
    WebhookRefused,
}

impl Kind {
    /// Every kind, in contract order.
    pub const ALL: [Kind; 18] = [
        Kind::ModeChanged,
        Kind::RequestCreated,
        Kind::RequestExpiring,
        Kind::RequestExpired,
        Kind::RequestApproved,
        Kind::RequestDenied,
        Kind::RequestCancelled,
        Kind::GrantExtended,
        Kind::GrantExpired,
        Kind::GrantRevoked,
        Kind::SignIn,
        Kind::SignInRefused,
        Kind::SignOut,
        Kind::Action,
        Kind::IdentityChanged,
        Kind::IntegratorInvited,
        Kind::GrantEnding,
        Kind::WebhookRefused,
    ];

    /// The stored name, e.g. `SIGN_IN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ModeChanged => "MODE_CHANGED",
            Kind::RequestCreated => "REQUEST_CREATED",
            Kind::RequestExpiring => "REQUEST_EXPIRING",
            Kind::RequestExpired => "REQUEST_EXPIRED",
            Kind::RequestApproved => "REQUEST_APPROVED",
            Kind::RequestDenied => "REQUEST_DENIED",
            Kind::RequestCancelled => "REQUEST_CANCELLED",
            Kind::GrantExtended => "GRANT_EXTENDED",
            Kind::GrantExpired => "GRANT_EXPIRED",
            Kind::GrantRevoked => "GRANT_REVOKED",
            Kind::SignIn => "SIGN_IN",
            Kind::SignInRefused => "SIGN_IN_REFUSED",
            Kind::SignOut => "SIGN_OUT",
            Kind::Action => "ACTION",
            Kind::IdentityChanged => "IDENTITY_CHANGED",
            Kind::IntegratorInvited => "INTEGRATOR_INVITED",
            Kind::GrantEnding => "GRANT_ENDING",
            Kind::WebhookRefused => "WEBHOOK_REFUSED",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Someone who did something, as they were at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    /// User or service-account id.
    pub id: String,
    /// `employee`, `support_agent`, …
    pub kind: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
}

/// An event as a producer sent it, before it has a place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Producer-chosen id; the idempotency key.
    pub event_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// What happened.
    pub kind: Kind,
    /// When it happened.
    pub occur_time: DateTime<Utc>,
    /// Who did it.
    pub actor: Option<Actor>,
    /// The agent concerned.
    pub agent: Option<Actor>,
    /// The admin who granted access.
    pub granted_by: Option<Actor>,
    /// Access request id.
    pub access_request_id: String,
    /// Grant id.
    pub grant_id: String,
    /// Session id.
    pub session_id: String,
    /// Ticket reference.
    pub ticket_ref: String,
    /// The reason given.
    pub reason: String,
    /// For actions: entity.
    pub entity: String,
    /// For actions: action.
    pub action: String,
    /// For decisions: allowed.
    pub allowed: bool,
    /// Grant or request end.
    pub expire_time: Option<DateTime<Utc>>,
    /// Producing service.
    pub source: String,
    /// Further detail, sorted by key.
    pub attributes: BTreeMap<String, String>,
}

/// An event as it arrives: what is logged, and what only its e-mail may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The event, as it will be logged and hashed.
    pub event: NewEvent,
    /// INTEGRATOR_INVITED only: the invitee's acceptance token. It goes into
    /// the rendered e-mail and nowhere else: never into the event's content.
    pub invitation_token: Option<String>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Too many in one call.
    #[error("at most {MAX_BATCH} events may be sent at once, got {0}")]
    BatchTooLarge(usize),
    /// A required field is empty.
    #[error("event {index}: {field} is required")]
    Missing {
        /// Position in the batch.
        index: usize,
        /// Which field.
        field: &'static str,
    },
    /// A field is too long.
    #[error("event {index}: {field} is longer than {limit} characters")]
    TooLong {
        /// Position in the batch.
        index: usize,
        /// Which field.
        field: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A field breaks one of the shared input rules.
    #[error("event {index}: {source}")]
    Input {
        /// Position in the batch.
        index: usize,
        /// The rule that refused it (it names the field).
        source: InputError,
    },
}

impl EventError {
    /// The request field at fault, as a path into the batch
    /// (`events[2].tenant_id`).
    pub fn field_path(&self) -> String {
        match self {
            Self::BatchTooLarge(_) => "events".to_string(),
            Self::Missing { index, field } | Self::TooLong { index, field, .. } => {
                format!("events[{index}].{field}")
            }
            Self::Input { index, source } => format!("events[{index}].{}", source.field()),
        }
    }
}

impl NewEvent {
    /// Checks the fields a producer must fill, their characters (the shared
    /// input rules: ids of id characters, labels on one line without bidi
    /// controls) and the size limits. Values are checked, never rewritten:
    /// the hash covers them as sent.
    pub fn validate(&self, index: usize) -> Result<(), EventError> {
        let rule = |e: InputError| EventError::Input { index, source: e };
        if self.event_id.trim().is_empty() {
            return Err(EventError::Missing {
                index,
                field: "event_id",
            });
        }
        if self.tenant_id.trim().is_empty() {
            return Err(EventError::Missing {
                index,
                field: "tenant_id",
            });
        }
        input::id("event_id", &self.event_id).map_err(rule)?;
        input::id("tenant_id", &self.tenant_id).map_err(rule)?;
        let ids = [
            ("access_request_id", &self.access_request_id),
            ("grant_id", &self.grant_id),
            ("session_id", &self.session_id),
        ];
        for (field, value) in ids {
            input::optional_id(field, value).map_err(rule)?;
        }
        let labels = [
            ("ticket_ref", &self.ticket_ref),
            ("entity", &self.entity),
            ("action", &self.action),
            ("source", &self.source),
        ];
        for (field, value) in labels {
            input::optional_name(field, value).map_err(rule)?;
        }
        input::text("reason", &self.reason, MAX_TEXT_LEN).map_err(rule)?;
        let attrs: usize = self.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if attrs > MAX_TEXT_LEN * 4 {
            return Err(EventError::TooLong {
                index,
                field: "attributes",
                limit: MAX_TEXT_LEN * 4,
            });
        }
        Ok(())
    }

    /// The agent's id, or empty.
    pub fn agent_id(&self) -> &str {
        self.agent.as_ref().map(|a| a.id.as_str()).unwrap_or("")
    }

    /// The canonical content of this event at `sequence`: the bytes its hash
    /// covers. A failure is an error, never empty content: an empty string
    /// would be hashed and chained as if it were the event.
    pub fn canonical(&self, sequence: i64) -> Result<String, CanonicalError> {
        let content = Canonical {
            v: 1,
            tenant_id: &self.tenant_id,
            sequence,
            event_id: &self.event_id,
            kind: self.kind.as_str(),
            occur_time: format_time(self.occur_time),
            actor: self.actor.as_ref(),
            agent: self.agent.as_ref(),
            granted_by: self.granted_by.as_ref(),
            access_request_id: &self.access_request_id,
            grant_id: &self.grant_id,
            session_id: &self.session_id,
            ticket_ref: &self.ticket_ref,
            reason: &self.reason,
            entity: &self.entity,
            action: &self.action,
            allowed: self.allowed,
            expire_time: self.expire_time.map(format_time),
            source: &self.source,
            attributes: &self.attributes,
        };
        serde_json::to_string(&content).map_err(|source| CanonicalError {
            event_id: self.event_id.clone(),
            source,
        })
    }

    /// Reads canonical content back.
    pub fn from_canonical(text: &str) -> Option<(i64, NewEvent)> {
        let c: Stored = serde_json::from_str(text).ok()?;
        let event = NewEvent {
            event_id: c.event_id,
            tenant_id: c.tenant_id,
            kind: Kind::parse(&c.kind)?,
            occur_time: parse_time(&c.occur_time)?,
            actor: c.actor,
            agent: c.agent,
            granted_by: c.granted_by,
            access_request_id: c.access_request_id,
            grant_id: c.grant_id,
            session_id: c.session_id,
            ticket_ref: c.ticket_ref,
            reason: c.reason,
            entity: c.entity,
            action: c.action,
            allowed: c.allowed,
            expire_time: match c.expire_time {
                Some(t) => Some(parse_time(&t)?),
                None => None,
            },
            source: c.source,
            attributes: c.attributes,
        };
        Some((c.sequence, event))
    }
}

/// Times in the canonical form: RFC 3339, UTC, microseconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Serialize)]
struct Canonical<'a> {
    v: u32,
    tenant_id: &'a str,
    sequence: i64,
    event_id: &'a str,
    kind: &'a str,
    occur_time: String,
    actor: Option<&'a Actor>,
    agent: Option<&'a Actor>,
    granted_by: Option<&'a Actor>,
    access_request_id: &'a str,
    grant_id: &'a str,
    session_id: &'a str,
    ticket_ref: &'a str,
    reason: &'a str,
    entity: &'a str,
    action: &'a str,
    allowed: bool,
    expire_time: Option<String>,
    source: &'a str,
    attributes: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Stored {
    tenant_id: String,
    sequence: i64,
    event_id: String,
    kind: String,
    occur_time: String,
    actor: Option<Actor>,
    agent: Option<Actor>,
    granted_by: Option<Actor>,
    access_request_id: String,
    grant_id: String,
    session_id: String,
    ticket_ref: String,
    reason: String,
    entity: String,
    action: String,
    allowed: bool,
    expire_time: Option<String>,
    source: String,
    attributes: BTreeMap<String, String>,
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    pub(crate) fn sample(id: &str) -> NewEvent {
        NewEvent {
            event_id: id.into(),
            tenant_id: "t1".into(),
            kind: Kind::SignIn,
            occur_time: DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap(),
            actor: None,
            agent: Some(Actor {
                id: "a1".into(),
                kind: "support_agent".into(),
                name: "Ann Agent".into(),
                email: "ann@vendor.test".into(),
            }),
            granted_by: None,
            access_request_id: String::new(),
            grant_id: "g1".into(),
            session_id: "s1".into(),
            ticket_ref: "T-1".into(),
            reason: "fix import".into(),
            entity: String::new(),
            action: String::new(),
            allowed: true,
            expire_time: None,
            source: "broker".into(),
            attributes: [("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn canonical_form_is_stable_and_round_trips() {
        let e = sample("e1");
        let text = e.canonical(7).unwrap();
        assert!(text.contains(r#""attributes":{"a":"1","b":"2"}"#), "{text}");
        assert!(text.contains(r#""occur_time":"2023-11-14T22:13:20.123456Z""#));
        assert_eq!(text, e.clone().canonical(7).unwrap());
        let (seq, back) = NewEvent::from_canonical(&text).unwrap();
        assert_eq!(seq, 7);
        assert_eq!(back, e);
    }

    #[test]
    fn validation_names_the_field() {
        let mut e = sample("");
        assert_eq!(
            e.validate(3),
            Err(EventError::Missing {
                index: 3,
                field: "event_id"
            })
        );
        e.event_id = "x".repeat(201);
        let err = e.validate(0).unwrap_err();
        assert_eq!(err.field_path(), "events[0].event_id");
        assert_eq!(
            err.to_string(),
            "event 0: event_id must be at most 200 characters"
        );
        e.event_id = "e1".into();
        e.session_id = "s\u{202E}1".into();
        let err = e.validate(4).unwrap_err();
        assert_eq!(err.field_path(), "events[4].session_id");
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
