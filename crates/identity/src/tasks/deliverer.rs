//! Delivers identity's outbox to audit through the kit's relay
//! (`keyholder_kit::outbox`, ADR 0017): batches in order per tenant, leased
//! so replicas share the work, backoff per event, dead letters for events
//! audit refuses as invalid (or that do not decode), delivered rows pruned.
//! Identity authenticates as its own service account with a token it signs
//! itself; a resend after a crash is harmless because audit drops duplicate
//! event ids.

use crate::domain::random;
use crate::domain::tokens::{self, Subject};
use crate::error::{Error, Result};
use crate::events::{AUDIT_WRITE_SCOPE, SERVICE_ACCOUNT_ID};
use crate::keys::KeyRing;
use crate::store::{Store, outbox};
use keyholder_kit::CancellationToken;
use keyholder_kit::auth::PrincipalKind;
use keyholder_kit::client::{Channel, authorized};
use keyholder_kit::clock::SharedClock;
use keyholder_kit::outbox::audit::{AuditCaller, AuditSink};
use keyholder_kit::outbox::{Message, Relay, RelayOptions};
use keyholder_proto::audit::v1::{Event, IngestEventsRequest};
use std::sync::Arc;

/// Delivers identity's outbox to audit (clones share one relay).
#[derive(Debug, Clone)]
pub struct Deliverer {
    relay: Relay<AuditSink<Caller>>,
}

/// Identity's side of a delivery: opening stored events, signing its token.
#[derive(Debug, Clone)]
pub struct Caller {
    store: Store,
    keys: Arc<KeyRing>,
    clock: SharedClock,
}

impl Deliverer {
    /// A deliverer to `audit` (a lazily connecting channel) with the
    /// default options. The relay is timed by the wall clock: its waits are
    /// real sleeps, and retries must come due while a test holds the
    /// service clock still.
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        clock: SharedClock,
        audit: Channel,
        options: RelayOptions,
    ) -> Self {
        Self::with(
            store,
            keys,
            clock,
            audit,
            keyholder_kit::clock::system(),
            options,
        )
    }

    /// A deliverer timed by `relay_clock` with `options` (tests, tools).
    pub fn with(
        store: Store,
        keys: Arc<KeyRing>,
        clock: SharedClock,
        audit: Channel,
        relay_clock: SharedClock,
        options: RelayOptions,
    ) -> Self {
        let db = store.db().clone();
        let wake = store.outbox_wake().clone();
        let caller = Caller { store, keys, clock };
        let sink = AuditSink::new("identity", caller, audit);
        Self {
            relay: Relay::with_wake(db, outbox::OUTBOX, sink, relay_clock, options, wake),
        }
    }

    /// Another relay over the same outbox and audit channel, as a second
    /// replica would run it (tests).
    pub fn replica(&self, relay_clock: SharedClock, options: RelayOptions) -> Self {
        let c = self.relay.sink().caller();
        Self::with(
            c.store.clone(),
            c.keys.clone(),
            c.clock.clone(),
            self.relay.sink().channel(),
            relay_clock,
            options,
        )
    }

    /// Delivers until `shutdown`, checked after every batch.
    pub async fn run(self, shutdown: CancellationToken) {
        self.relay.run(shutdown).await;
    }

    /// Sends one batch now, ahead of any backoff; how many events were
    /// delivered or set aside (0: none waiting). Fails when audit could not
    /// take them (they are retried).
    pub async fn deliver_once(&self) -> Result<usize> {
        let r = self.relay.deliver_now().await?;
        match r.last_error {
            Some(e) if r.retried > 0 => Err(Error::Audit(e)),
            _ => Ok(r.settled()),
        }
    }

    /// Events waiting for delivery (not counting those set aside).
    pub async fn undelivered(&self) -> Result<u64> {
        Ok(self.relay.pending().await?)
    }

    /// Ids of the events set aside, with the reason, oldest first.
    pub async fn rejected(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .relay
            .dead_letters()
            .await?
            .into_iter()
            .map(|d| (d.event_id, d.last_error))
            .collect())
    }

    /// One batch of what is due, as the background loop sends it (tests of
    /// backoff and dead letters).
    pub async fn deliver_due(&self) -> Result<keyholder_kit::outbox::Report> {
        Ok(self.relay.deliver_once().await?)
    }

    /// Forgets delivered events older than the retention; how many.
    pub async fn prune(&self) -> Result<u64> {
        Ok(self.relay.prune().await?)
    }
}

#[async_trait::async_trait]
impl AuditCaller for Caller {
    fn event(&self, m: &Message) -> std::result::Result<Event, String> {
        outbox::open(self.store.kek(), m).ok_or_else(|| {
            "the stored event does not decode, or its secret does not open".to_string()
        })
    }

    async fn authorize(
        &self,
        req: IngestEventsRequest,
    ) -> std::result::Result<tonic::Request<IngestEventsRequest>, String> {
        let token = self.token().await.map_err(|e| e.to_string())?;
        Ok(authorized(req, &token))
    }
}

impl Caller {
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
