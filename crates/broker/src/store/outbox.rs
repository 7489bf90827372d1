//! Broker's outbox of events for audit, on the kit's one outbox
//! (`keyholder_kit::outbox`, ADR 0017): events are written beside the change
//! that caused them, in its transaction, and queued for the webhook
//! subscriptions that want them.

use keyholder_kit::outbox::{Message, NewMessage, Outbox};
use keyholder_proto::audit::v1::Event;
use prost::Message as _;
use sea_orm::{ConnectionTrait, DbErr};

/// Broker's outbox table.
pub const OUTBOX: Outbox = Outbox::new("broker_outbox");

/// Writes an event (in the caller's transaction), and queues it for the
/// webhook subscriptions that want it.
pub async fn push<C: ConnectionTrait>(conn: &C, event: &Event, now_ms: i64) -> Result<(), DbErr> {
    let traceparent = keyholder_kit::telemetry::current_traceparent();
    OUTBOX
        .enqueue(
            conn,
            new(
                event,
                &event.encode_to_vec(),
                traceparent.as_deref(),
                now_ms,
            ),
        )
        .await?;
    super::webhooks::fan_out(conn, event, now_ms).await
}

fn new<'a>(
    event: &'a Event,
    payload: &'a [u8],
    traceparent: Option<&'a str>,
    now_ms: i64,
) -> NewMessage<'a> {
    NewMessage {
        event_id: &event.event_id,
        tenant_id: &event.tenant_id,
        payload,
        secret: None,
        traceparent,
        created_at: chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap_or(chrono::DateTime::UNIX_EPOCH),
    }
}

/// How many events wait for delivery (not counting dead letters).
pub async fn undelivered_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    OUTBOX.pending(conn).await
}

/// The ids of events given up (audit refused them), with the reason,
/// oldest first.
pub async fn rejected<C: ConnectionTrait>(conn: &C) -> Result<Vec<(String, String)>, DbErr> {
    Ok(OUTBOX
        .dead_letters(conn)
        .await?
        .into_iter()
        .map(|d| (d.event_id, d.last_error))
        .collect())
}

/// Decodes a claimed event.
pub fn decode(m: &Message) -> Option<Event> {
    Event::decode(m.payload.as_slice()).ok()
}
