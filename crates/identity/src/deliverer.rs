//! Sends the outbox to audit's IngestEvents in order, in batches, marking rows
//! delivered only after audit accepted them; retries with exponential backoff.
//! Identity authenticates as its own service account with a token it signs
//! itself. On PostgreSQL a batch is claimed with `FOR UPDATE SKIP LOCKED`, so
//! replicas share the work; a resend after a crash is harmless because audit
//! drops duplicate event ids. An event audit refuses as invalid (or one that
//! does not decode) is set aside (a dead letter with the reason, logged as an
//! error) so it never blocks the events behind it.

use crate::domain::random;
use crate::domain::tokens::{self, Subject};
use crate::error::{Error, Result};
use crate::events::{AUDIT_WRITE_SCOPE, SERVICE_ACCOUNT_ID};
use crate::keys::KeyRing;
use crate::store::entities::outbox as row;
use crate::store::{Store, outbox};
use keyholder_kit::CancellationToken;
use keyholder_kit::auth::PrincipalKind;
use keyholder_kit::client::Channel;
use keyholder_kit::client::authorized;
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
/// Poll interval for rows written by other replicas.
pub const POLL: Duration = Duration::from_secs(1);

/// Delivers identity's outbox to audit.
#[derive(Debug, Clone)]
pub struct Deliverer {
    store: Store,
    keys: Arc<KeyRing>,
    clock: SharedClock,
    client: AuditServiceClient<Channel>,
    /// One batch at a time in this process, so a test's `deliver_once`
    /// beside the background loop never sends the same rows twice.
    sending: Arc<tokio::sync::Mutex<()>>,
}

impl Deliverer {
    /// A deliverer to `audit` (a lazily connecting channel).
    pub fn new(store: Store, keys: Arc<KeyRing>, clock: SharedClock, audit: Channel) -> Self {
        Self {
            store,
            keys,
            clock,
            client: AuditServiceClient::new(audit),
            sending: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Delivers until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.store.outbox_wake().clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.deliver_once().await {
                Ok(n) if n > 0 => backoff = FIRST_BACKOFF,
                Ok(_) => {
                    backoff = FIRST_BACKOFF;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "identity event delivery to audit failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Sends one batch; returns how many events were delivered or set aside
    /// (0: none waiting).
    pub async fn deliver_once(&self) -> Result<usize> {
        let _sending = self.sending.lock().await;
        if self.store.is_postgres() {
            let txn = self.store.db().begin().await?;
            let rows = outbox::pending(&txn, BATCH, true).await?;
            if rows.is_empty() {
                txn.commit().await?;
                return Ok(0);
            }
            let outcome = self
                .deliver_rows(&txn, &rows)
                .instrument(traced(&rows))
                .await;
            // Keep what was settled before a failure part-way through.
            txn.commit().await?;
            if outcome.is_err() {
                let _ = outbox::mark_failed(self.store.db(), &unsettled(&rows)).await;
            }
            outcome
        } else {
            let rows = outbox::pending(self.store.db(), BATCH, false).await?;
            if rows.is_empty() {
                return Ok(0);
            }
            let outcome = self
                .deliver_rows(self.store.db(), &rows)
                .instrument(traced(&rows))
                .await;
            if outcome.is_err() {
                let _ = outbox::mark_failed(self.store.db(), &unsettled(&rows)).await;
            }
            outcome
        }
    }

    /// Events waiting for delivery (not counting those set aside).
    pub async fn undelivered(&self) -> Result<u64> {
        Ok(outbox::undelivered_count(self.store.db()).await?)
    }

    /// Ids of the events set aside, with the reason, oldest first.
    pub async fn rejected(&self) -> Result<Vec<(String, String)>> {
        Ok(outbox::rejected(self.store.db()).await?)
    }

    /// Sends `rows` as one batch. When audit refuses the batch as invalid,
    /// sends them one by one so that only the offending events are set aside
    /// (dead letters, with audit's reason) and the rest keep flowing.
    async fn deliver_rows<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: &[row::Model],
    ) -> Result<usize> {
        let mut events = Vec::with_capacity(rows.len());
        let mut sendable = Vec::with_capacity(rows.len());
        for r in rows {
            match outbox::decode(self.store.kek(), r) {
                Some(e) => {
                    events.push(e);
                    sendable.push(r);
                }
                None => {
                    self.set_aside(
                        conn,
                        r,
                        "the stored event does not decode, or its secret does not open",
                    )
                    .await?
                }
            }
        }
        if events.is_empty() {
            return Ok(rows.len());
        }
        match self.send(events.clone()).await {
            Ok(()) => {
                let seqs: Vec<i64> = sendable.iter().map(|r| r.seq).collect();
                outbox::mark_delivered(conn, &seqs, self.now()).await?;
                return Ok(rows.len());
            }
            Err(Sent::Other(e)) => return Err(e),
            Err(Sent::Refused(why)) if sendable.len() == 1 => {
                self.set_aside(conn, sendable[0], &why).await?;
                return Ok(rows.len());
            }
            Err(Sent::Refused(_)) => {}
        }
        for (r, event) in sendable.into_iter().zip(events) {
            match self.send(vec![event]).await {
                Ok(()) => outbox::mark_delivered(conn, &[r.seq], self.now()).await?,
                Err(Sent::Refused(why)) => self.set_aside(conn, r, &why).await?,
                Err(Sent::Other(e)) => return Err(e),
            }
        }
        Ok(rows.len())
    }

    async fn set_aside<C: ConnectionTrait>(
        &self,
        conn: &C,
        r: &row::Model,
        why: &str,
    ) -> Result<()> {
        // Audit's reason names a field and a limit, never a value or a secret.
        tracing::error!(
            event_id = %r.event_id,
            event_seq = r.seq,
            error = %why,
            "identity event set aside: audit refused it as invalid (or it does not decode); it will not be resent"
        );
        outbox::mark_rejected(conn, r.seq, why, self.now()).await?;
        Ok(())
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    async fn send(&self, events: Vec<Event>) -> std::result::Result<(), Sent> {
        let token = self.token().await.map_err(Sent::Other)?;
        match self
            .client
            .clone()
            .ingest_events(authorized(IngestEventsRequest { events }, &token))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::InvalidArgument => {
                Err(Sent::Refused(s.message().to_string()))
            }
            Err(s) => Err(Sent::Other(Error::Audit(s.message().to_string()))),
        }
    }

    /// A normal access token of identity's service account, signed with the
    /// current key: audit checks it exactly as any other caller's.
    async fn token(&self) -> Result<String> {
        let subject = Subject {
            id: SERVICE_ACCOUNT_ID.into(),
            kind: PrincipalKind::ServiceAccount,
            tenant_id: None,
            admin: false,
            chief: false,
            scopes: vec![AUDIT_WRITE_SCOPE.into()],
            amr: vec![],
            name: "identity".into(),
            email: String::new(),
            // Identity's own account is never lowered.
            version: 0,
        };
        let claims = tokens::access_claims(&subject, self.clock.now(), random::id());
        self.keys.sign_access(&claims).await
    }
}

/// Why a send failed.
enum Sent {
    /// Audit answered INVALID_ARGUMENT: resending the same events cannot help.
    Refused(String),
    /// Anything else (audit down, auth, …): retry later.
    Other(Error),
}

/// The span of a batch's delivery, in the trace of the calls that wrote it.
fn traced(rows: &[row::Model]) -> tracing::Span {
    keyholder_kit::telemetry::delivery_span(
        "identity",
        rows.iter().map(|r| r.traceparent.as_deref()),
    )
}

/// The sequence numbers of a batch, to count a failed attempt on each.
fn unsettled(rows: &[row::Model]) -> Vec<i64> {
    rows.iter().map(|r| r.seq).collect()
}
