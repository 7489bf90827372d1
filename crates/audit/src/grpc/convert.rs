//! Proto ↔ domain translations.

use crate::domain::event::{Actor, Incoming, Kind, NewEvent};
use crate::domain::history::LoginEntry;
use crate::error::Error;
use crate::store::entities::{event, notification};
use crate::store::events::EventQuery;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::from_stored;
use keyholder_proto::audit::v1 as pb;
use keyholder_rights::input;
use prost_types::Timestamp;

pub(crate) fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A stored instant as a proto timestamp; a corrupt row is an error, not
/// a missing time.
fn stored_ts(us: i64) -> Result<Timestamp, Error> {
    Ok(ts(from_stored(us)?))
}

fn from_ts(t: &Timestamp) -> Option<DateTime<Utc>> {
    // Stored with microsecond precision, like the canonical form.
    DateTime::from_timestamp(t.seconds, (t.nanos.max(0) as u32 / 1000) * 1000)
}

pub(crate) fn kind_from_proto(k: i32) -> Option<Kind> {
    use pb::EventKind as K;
    Some(match pb::EventKind::try_from(k).ok()? {
        K::Unspecified => return None,
        K::ModeChanged => Kind::ModeChanged,
        K::RequestCreated => Kind::RequestCreated,
        K::RequestExpiring => Kind::RequestExpiring,
        K::RequestExpired => Kind::RequestExpired,
        K::RequestApproved => Kind::RequestApproved,
        K::RequestDenied => Kind::RequestDenied,
        K::RequestCancelled => Kind::RequestCancelled,
        K::GrantExtended => Kind::GrantExtended,
        K::GrantExpired => Kind::GrantExpired,
        K::GrantRevoked => Kind::GrantRevoked,
        K::SignIn => Kind::SignIn,
        K::SignInRefused => Kind::SignInRefused,
        K::SignOut => Kind::SignOut,
        K::Action => Kind::Action,
        K::IdentityChanged => Kind::IdentityChanged,
        K::IntegratorInvited => Kind::IntegratorInvited,
        K::GrantEnding => Kind::GrantEnding,
        K::WebhookRefused => Kind::WebhookRefused,
    })
}

fn kind_to_proto(k: Kind) -> pb::EventKind {
    use pb::EventKind as K;
    match k {
        Kind::ModeChanged => K::ModeChanged,
        Kind::RequestCreated => K::RequestCreated,
        Kind::RequestExpiring => K::RequestExpiring,
        Kind::RequestExpired => K::RequestExpired,
        Kind::RequestApproved => K::RequestApproved,
        Kind::RequestDenied => K::RequestDenied,
        Kind::RequestCancelled => K::RequestCancelled,
        Kind::GrantExtended => K::GrantExtended,
        Kind::GrantExpired => K::GrantExpired,
        Kind::GrantRevoked => K::GrantRevoked,
        Kind::SignIn => K::SignIn,
        Kind::SignInRefused => K::SignInRefused,
        Kind::SignOut => K::SignOut,
        Kind::Action => K::Action,
        Kind::IdentityChanged => K::IdentityChanged,
        Kind::IntegratorInvited => K::IntegratorInvited,
        Kind::GrantEnding => K::GrantEnding,
        Kind::WebhookRefused => K::WebhookRefused,
    }
}

fn actor_from(a: Option<pb::Actor>) -> Option<Actor> {
    a.filter(|a| !(a.actor_id.is_empty() && a.display_name.is_empty() && a.email.is_empty()))
        .map(|a| Actor {
            id: a.actor_id,
            kind: a.kind,
            name: a.display_name,
            email: a.email,
        })
}

fn actor_to(a: Option<Actor>) -> Option<pb::Actor> {
    a.map(|a| pb::Actor {
        actor_id: a.id,
        kind: a.kind,
        display_name: a.name,
        email: a.email,
    })
}

/// Longest invitation token accepted (identity's are 43 characters).
const MAX_TOKEN_LEN: usize = 200;

/// A proto event to a domain event and the secret its e-mail alone may
/// carry, refusing what cannot be stored. The secret is split off here, so
/// nothing after this point can log it with the event by mistake.
pub(crate) fn event_from_proto(index: usize, mut e: pb::Event) -> Result<Incoming, Error> {
    let token = std::mem::take(&mut e.invitation_token);
    let event = logged_event_from_proto(index, e)?;
    let invitation_token = match (event.kind, token.is_empty()) {
        (_, true) => None,
        (Kind::IntegratorInvited, false) if token.len() <= MAX_TOKEN_LEN => Some(token),
        (Kind::IntegratorInvited, false) => {
            return Err(Error::InvalidArgument(format!(
                "event {index}: invitation_token is longer than {MAX_TOKEN_LEN} characters"
            )));
        }
        (_, false) => {
            return Err(Error::InvalidArgument(format!(
                "event {index}: invitation_token is only for INTEGRATOR_INVITED events"
            )));
        }
    };
    Ok(Incoming {
        event,
        invitation_token,
    })
}

fn logged_event_from_proto(index: usize, e: pb::Event) -> Result<NewEvent, Error> {
    let kind = kind_from_proto(e.kind).ok_or_else(|| {
        Error::InvalidArgument(format!("event {index}: kind is missing or unknown"))
    })?;
    let occur_time =
        e.occur_time.as_ref().and_then(from_ts).ok_or_else(|| {
            Error::InvalidArgument(format!("event {index}: occur_time is required"))
        })?;
    let event = NewEvent {
        event_id: e.event_id,
        tenant_id: e.tenant_id,
        kind,
        occur_time,
        actor: actor_from(e.actor),
        agent: actor_from(e.agent),
        granted_by: actor_from(e.granted_by),
        access_request_id: e.access_request_id,
        grant_id: e.grant_id,
        session_id: e.session_id,
        ticket_ref: e.ticket_ref,
        reason: e.reason,
        entity: e.entity,
        action: e.action,
        allowed: e.allowed,
        expire_time: e.expire_time.as_ref().and_then(from_ts),
        source: e.source,
        attributes: e.attributes.into_iter().collect(),
    };
    event.validate(index)?;
    Ok(event)
}

fn event_to_proto(e: NewEvent) -> pb::Event {
    pb::Event {
        event_id: e.event_id,
        tenant_id: e.tenant_id,
        kind: kind_to_proto(e.kind) as i32,
        occur_time: Some(ts(e.occur_time)),
        actor: actor_to(e.actor),
        agent: actor_to(e.agent),
        granted_by: actor_to(e.granted_by),
        access_request_id: e.access_request_id,
        grant_id: e.grant_id,
        session_id: e.session_id,
        ticket_ref: e.ticket_ref,
        reason: e.reason,
        entity: e.entity,
        action: e.action,
        allowed: e.allowed,
        expire_time: e.expire_time.map(ts),
        source: e.source,
        attributes: e.attributes.into_iter().collect(),
        invitation_token: String::new(),
    }
}

/// The domain event stored in a row.
pub(crate) fn stored_event(m: &event::Model) -> Result<NewEvent, Error> {
    NewEvent::from_canonical(&m.content)
        .map(|(_, e)| e)
        .ok_or_else(|| {
            Error::Internal(format!(
                "stored event {} (sequence {}) is unreadable",
                m.event_id, m.sequence
            ))
        })
}

pub(crate) fn recorded(m: event::Model) -> Result<pb::RecordedEvent, Error> {
    let e = stored_event(&m)?;
    Ok(pb::RecordedEvent {
        event: Some(event_to_proto(e)),
        sequence: m.sequence,
        hash: m.hash,
        record_time: Some(stored_ts(m.record_time_us)?),
    })
}

pub(crate) fn login_entry(e: LoginEntry) -> pb::LoginHistoryEntry {
    pb::LoginHistoryEntry {
        session_id: e.session_id,
        accessed_by: actor_to(e.accessed_by),
        sign_in_time: Some(ts(e.sign_in_time)),
        sign_out_time: e.sign_out_time.map(ts),
        reason: e.reason,
        granted_by: actor_to(e.granted_by),
        ticket_ref: e.ticket_ref,
        grant_id: e.grant_id,
        succeeded: e.succeeded,
        refusal: e.refusal,
        end_reason: e.end_reason,
    }
}

pub(crate) fn notification_to_proto(n: notification::Model) -> Result<pb::Notification, Error> {
    let state = match n.state.as_str() {
        "sent" => pb::NotificationState::Sent,
        "failed" => pb::NotificationState::Failed,
        _ => pb::NotificationState::Pending,
    };
    Ok(pb::Notification {
        message_id: crate::domain::notify::message_id(&n.notification_id),
        notification_id: n.notification_id,
        event_id: n.event_id,
        recipient: n.recipient,
        subject: n.subject,
        state: state as i32,
        attempts: n.attempts,
        last_error: n.last_error,
        send_time: n.send_time_us.map(stored_ts).transpose()?,
        create_time: Some(stored_ts(n.create_time_us)?),
        next_attempt_time: if state == pb::NotificationState::Pending {
            Some(stored_ts(n.next_attempt_time_us)?)
        } else {
            None
        },
    })
}

pub(crate) fn query_from(f: Option<pb::EventFilter>) -> Result<EventQuery, Error> {
    let f = f.unwrap_or_default();
    let mut kinds = Vec::new();
    for k in f.kinds {
        kinds.push(
            kind_from_proto(k)
                .ok_or_else(|| Error::InvalidArgument(format!("unknown event kind {k}")))?,
        );
    }
    let q = EventQuery {
        kinds,
        agent_id: input::optional_id("agent_id", &f.agent_id)?,
        session_id: input::optional_id("session_id", &f.session_id)?,
        grant_id: input::optional_id("grant_id", &f.grant_id)?,
        start: f.start_time.as_ref().and_then(from_ts),
        end: f.end_time.as_ref().and_then(from_ts),
    };
    check_range(&q)?;
    Ok(q)
}

pub(crate) fn check_range(q: &EventQuery) -> Result<(), Error> {
    if let (Some(s), Some(e)) = (q.start, q.end)
        && s > e
    {
        return Err(Error::InvalidArgument(
            "start_time must not be after end_time".into(),
        ));
    }
    Ok(())
}

pub(crate) fn time_from(t: Option<Timestamp>) -> Option<DateTime<Utc>> {
    t.as_ref().and_then(from_ts)
}
