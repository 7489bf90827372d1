//! Sends the outbox to audit's IngestEvents in order, in batches, marking rows
//! delivered only after audit accepted them; retries with exponential backoff.
//! Identity authenticates as its own service account with a token it signs
//! itself. On PostgreSQL a batch is claimed with `FOR UPDATE SKIP LOCKED`, so
//! replicas share the work; a resend after a crash is harmless because audit
//! drops duplicate event ids.

use crate::domain::random;
use crate::domain::tokens::{self, Subject};
use crate::error::{Error, Result};
use crate::events::{AUDIT_WRITE_SCOPE, SERVICE_ACCOUNT_ID};
use crate::keys::KeyRing;
use crate::store::entities::outbox as row;
use crate::store::{Store, outbox};
use keyholder_kit::CancellationToken;
use keyholder_kit::auth::PrincipalKind;
use keyholder_kit::client::authorized;
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

    /// Sends one batch; returns how many events audit accepted (0: none
    /// waiting).
    pub async fn deliver_once(&self) -> Result<usize> {
        let _sending = self.sending.lock().await;
        let now = || self.clock.now().timestamp();
        if self.store.is_postgres() {
            let txn = self.store.db().begin().await?;
            let rows = outbox::pending(&txn, BATCH, true).await?;
            if rows.is_empty() {
                txn.commit().await?;
                return Ok(0);
            }
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            if let Err(e) = self.send(&rows).await {
                txn.rollback().await?;
                let _ = outbox::mark_failed(self.store.db(), &seqs).await;
                return Err(e);
            }
            outbox::mark_delivered(&txn, &seqs, now()).await?;
            txn.commit().await?;
            Ok(seqs.len())
        } else {
            let rows = outbox::pending(self.store.db(), BATCH, false).await?;
            if rows.is_empty() {
                return Ok(0);
            }
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            if let Err(e) = self.send(&rows).await {
                let _ = outbox::mark_failed(self.store.db(), &seqs).await;
                return Err(e);
            }
            outbox::mark_delivered(self.store.db(), &seqs, now()).await?;
            Ok(seqs.len())
        }
    }

    /// Events waiting for delivery.
    pub async fn undelivered(&self) -> Result<u64> {
        Ok(outbox::undelivered_count(self.store.db()).await?)
    }

    async fn send(&self, rows: &[row::Model]) -> Result<()> {
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
        let token = self.token().await?;
        self.client
            .clone()
            .ingest_events(authorized(IngestEventsRequest { events }, &token))
            .await
            .map_err(|s| Error::Audit(s.message().to_string()))?;
        Ok(())
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
        };
        let claims = tokens::access_claims(&subject, self.clock.now(), random::id());
        self.keys.sign_access(&claims).await
    }
}
