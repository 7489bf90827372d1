//! Sends the outbox to audit's IngestEvents in order, in batches, marking rows
//! delivered only after audit accepted them; retries with exponential backoff.
//! On PostgreSQL the batch is claimed with `FOR UPDATE SKIP LOCKED`, so brokers
//! share the work; a resend after a crash is harmless because audit drops
//! duplicate event ids.

use crate::error::Error;
use crate::identity::IdentityClient;
use crate::store::{Store, outbox};
use keyholder_kit::CancellationToken;
use keyholder_kit::clock::SharedClock;
use keyholder_proto::audit::v1::IngestEventsRequest;
use keyholder_proto::audit::v1::audit_service_client::AuditServiceClient;
use sea_orm::TransactionTrait;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

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

/// Sends one batch; returns how many events were delivered.
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
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        send(identity, client, &rows).await?;
        outbox::mark_delivered(&txn, &seqs, clock.now().timestamp_millis()).await?;
        txn.commit().await?;
        Ok(seqs.len())
    } else {
        let rows = outbox::pending(store.db(), BATCH, false).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        if let Err(e) = send(identity, client, &rows).await {
            let _ = outbox::mark_failed(store.db(), &seqs).await;
            return Err(e);
        }
        outbox::mark_delivered(store.db(), &seqs, clock.now().timestamp_millis()).await?;
        Ok(seqs.len())
    }
}

async fn send(
    identity: &IdentityClient,
    client: &AuditServiceClient<Channel>,
    rows: &[crate::store::entities::outbox::Model],
) -> Result<(), Error> {
    let events = rows
        .iter()
        .filter_map(|r| {
            let e = outbox::decode(r);
            if e.is_none() {
                tracing::error!(event_seq = r.seq, "outbox row does not decode; skipping it");
            }
            e
        })
        .collect();
    let req = identity.request(IngestEventsRequest { events }).await?;
    client
        .clone()
        .ingest_events(req)
        .await
        .map_err(|s| Error::Audit(s.message().to_string()))?;
    Ok(())
}
