//! Sends the outbox to audit's IngestEvents in order, in batches, marking rows
//! delivered only after audit accepted them; retries with exponential backoff.
//! On PostgreSQL the batch is claimed with `FOR UPDATE SKIP LOCKED`, so brokers
//! share the work; a resend after a crash is harmless because audit drops
//! duplicate event ids. An event audit refuses as invalid is set aside (a dead
//! letter with audit's reason, logged as an error) so it never blocks the
//! events behind it.

use crate::error::Error;
use crate::identity::IdentityClient;
use crate::store::entities::outbox::Model as Row;
use crate::store::{Store, outbox};
use keyholder_kit::CancellationToken;
use keyholder_kit::client::Channel;
use keyholder_kit::clock::SharedClock;
use keyholder_proto::audit::v1::audit_service_client::AuditServiceClient;
use keyholder_proto::audit::v1::{Event, IngestEventsRequest};
use sea_orm::{ConnectionTrait, TransactionTrait};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Events per IngestEvents call (audit accepts at most 500).
pub const BATCH: u64 = 200;
/// First retry delay; doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Poll interval for rows written by other brokers.
pub const POLL: Duration = Duration::from_secs(1);

/// Delivers until shutdown.
pub async fn run(
    store: Store,
    identity: Arc<IdentityClient>,
    audit: Channel,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    let client = AuditServiceClient::new(audit);
    let wake = store.outbox_wake().clone();
    let mut backoff = FIRST_BACKOFF;
    loop {
        match deliver_once(&store, &identity, &client, &clock).await {
            Ok(n) if n > 0 => {
                backoff = FIRST_BACKOFF;
                continue;
            }
            Ok(_) => {
                backoff = FIRST_BACKOFF;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "event delivery to audit failed");
                if !super::pause(backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Sends one batch; returns how many events were delivered or set aside.
pub async fn deliver_once(
    store: &Store,
    identity: &IdentityClient,
    client: &AuditServiceClient<Channel>,
    clock: &SharedClock,
) -> Result<usize, Error> {
    if store.is_postgres() {
        let txn = store.db().begin().await?;
        let rows = outbox::pending(&txn, BATCH, true).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let outcome = deliver_rows(&txn, identity, client, clock, &rows)
            .instrument(traced(&rows))
            .await;
        // Keep what was settled before a failure part-way through.
        txn.commit().await?;
        outcome
    } else {
        let rows = outbox::pending(store.db(), BATCH, false).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let outcome = deliver_rows(store.db(), identity, client, clock, &rows)
            .instrument(traced(&rows))
            .await;
        if outcome.is_err() {
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            let _ = outbox::mark_failed(store.db(), &seqs).await;
        }
        outcome
    }
}

/// The span of a batch's delivery, in the trace of the calls that wrote it.
fn traced(rows: &[Row]) -> tracing::Span {
    keyholder_kit::telemetry::delivery_span("broker", rows.iter().map(|r| r.traceparent.as_deref()))
}

/// Sends `rows` as one batch. When audit refuses the batch as invalid, sends
/// them one by one so that only the offending events are set aside (dead
/// letters, with audit's reason) and the rest keep flowing.
async fn deliver_rows<C: ConnectionTrait>(
    conn: &C,
    identity: &IdentityClient,
    client: &AuditServiceClient<Channel>,
    clock: &SharedClock,
    rows: &[Row],
) -> Result<usize, Error> {
    let mut events = Vec::with_capacity(rows.len());
    let mut sendable = Vec::with_capacity(rows.len());
    for r in rows {
        match outbox::decode(r) {
            Some(e) => {
                events.push(e);
                sendable.push(r);
            }
            None => {
                set_aside(conn, r, "the stored event does not decode", clock).await?;
            }
        }
    }
    if events.is_empty() {
        return Ok(rows.len());
    }
    match send(identity, client, events.clone()).await {
        Ok(()) => {
            let seqs: Vec<i64> = sendable.iter().map(|r| r.seq).collect();
            outbox::mark_delivered(conn, &seqs, clock.now().timestamp_millis()).await?;
            return Ok(rows.len());
        }
        Err(Sent::Other(e)) => return Err(e),
        Err(Sent::Refused(why)) if sendable.len() == 1 => {
            set_aside(conn, sendable[0], &why, clock).await?;
            return Ok(rows.len());
        }
        Err(Sent::Refused(_)) => {}
    }
    for (row, event) in sendable.into_iter().zip(events) {
        match send(identity, client, vec![event]).await {
            Ok(()) => {
                outbox::mark_delivered(conn, &[row.seq], clock.now().timestamp_millis()).await?;
            }
            Err(Sent::Refused(why)) => set_aside(conn, row, &why, clock).await?,
            Err(Sent::Other(e)) => return Err(e),
        }
    }
    Ok(rows.len())
}

async fn set_aside<C: ConnectionTrait>(
    conn: &C,
    row: &Row,
    why: &str,
    clock: &SharedClock,
) -> Result<(), Error> {
    // Audit's reason names a field and a limit, never a value or a secret.
    tracing::error!(
        event_id = %row.event_id,
        tenant_id = %row.tenant_id.chars().take(64).collect::<String>(),
        event_seq = row.seq,
        error = %why,
        "audit refused an event as invalid; it is set aside and will not be resent"
    );
    outbox::mark_rejected(conn, row.seq, why, clock.now().timestamp_millis()).await?;
    Ok(())
}

/// Why a send failed.
enum Sent {
    /// Audit answered INVALID_ARGUMENT: resending the same events cannot help.
    Refused(String),
    /// Anything else (audit down, auth, …): retry later.
    Other(Error),
}

async fn send(
    identity: &IdentityClient,
    client: &AuditServiceClient<Channel>,
    events: Vec<Event>,
) -> Result<(), Sent> {
    let req = identity
        .request(IngestEventsRequest { events })
        .await
        .map_err(Sent::Other)?;
    match client.clone().ingest_events(req).await {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            Err(Sent::Refused(s.message().to_string()))
        }
        Err(s) => Err(Sent::Other(Error::Audit(s.message().to_string()))),
    }
}
