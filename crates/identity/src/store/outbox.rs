//! Identity's outbox of events for audit, on the kit's one outbox
//! (`keyholder_kit::outbox`, ADR 0017): events are written in the same
//! transaction as the change that caused them. An event's secret (an
//! invitation's acceptance token, which must reach audit's e-mail) is kept
//! out of the payload in its own column, sealed, and wiped by the relay once
//! the event is delivered or set aside.

use super::entities::outbox;
use super::sealed::OUTBOX_SECRET;
use keyholder_kit::kek::KekRing;
use keyholder_kit::outbox::{Message, NewMessage, Outbox};
use keyholder_proto::audit::v1::Event;
use prost::Message as _;
use sea_orm::{ConnectionTrait, DbErr};

/// Identity's outbox table.
pub const OUTBOX: Outbox = Outbox::new("identity_outbox");

/// Writes events (in the caller's transaction), stamped with their own time.
pub async fn push<C: ConnectionTrait>(
    conn: &C,
    kek: &KekRing,
    events: &[Event],
) -> Result<(), DbErr> {
    for event in events {
        let mut payload = event.clone();
        let secret = std::mem::take(&mut payload.invitation_token);
        let secret = if secret.is_empty() {
            None
        } else {
            Some(
                kek.seal_str(OUTBOX_SECRET, &event.event_id, &secret)
                    .map_err(|e| DbErr::Custom(e.to_string()))?,
            )
        };
        let traceparent = keyholder_kit::telemetry::current_traceparent();
        OUTBOX
            .enqueue(
                conn,
                NewMessage {
                    event_id: &event.event_id,
                    tenant_id: &event.tenant_id,
                    payload: &payload.encode_to_vec(),
                    secret: secret.as_deref(),
                    traceparent: traceparent.as_deref(),
                    created_at: written_at(event),
                },
            )
            .await?;
    }
    Ok(())
}

/// The event's own time (every event builder sets it; the epoch otherwise,
/// as before, so a malformed one still sorts first rather than failing the
/// change).
fn written_at(e: &Event) -> chrono::DateTime<chrono::Utc> {
    e.occur_time
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        })
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

/// Decodes a claimed event, its secret opened and put back for the journey
/// to audit.
pub fn open(kek: &KekRing, m: &Message) -> Option<Event> {
    decode_parts(kek, &m.event_id, &m.payload, m.secret.as_deref())
}

/// Decodes a stored row (tests read the table directly).
pub fn decode(kek: &KekRing, row: &outbox::Model) -> Option<Event> {
    decode_parts(kek, &row.event_id, &row.payload, row.secret.as_deref())
}

fn decode_parts(
    kek: &KekRing,
    event_id: &str,
    payload: &[u8],
    secret: Option<&str>,
) -> Option<Event> {
    let mut e = Event::decode(payload).ok()?;
    if let Some(secret) = secret {
        e.invitation_token = kek.open_str(OUTBOX_SECRET, event_id, secret).ok()?;
    }
    Some(e)
}
