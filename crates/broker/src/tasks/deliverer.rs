//! Sends broker's outbox to audit through the kit's relay
//! (`keyholder_kit::outbox`, ADR 0017): batches in order per tenant, leased
//! so brokers share the work, backoff per event, dead letters for events
//! audit refuses as invalid, delivered rows pruned, shutdown after the
//! batch in flight. Broker authenticates with its service token from
//! identity; a resend after a crash is harmless because audit drops
//! duplicate event ids.

use crate::identity::IdentityClient;
use crate::store::{Store, outbox};
use keyholder_kit::CancellationToken;
use keyholder_kit::client::Channel;
use keyholder_kit::clock::SharedClock;
use keyholder_kit::outbox::audit::{AuditCaller, AuditSink};
use keyholder_kit::outbox::{Message, Relay, RelayOptions};
use keyholder_proto::audit::v1::{Event, IngestEventsRequest};
use std::sync::Arc;

/// Broker's relay to audit.
pub type Deliverer = Relay<AuditSink<Caller>>;

/// Broker's side of a delivery: its service token from identity.
#[derive(Clone)]
pub struct Caller {
    identity: Arc<IdentityClient>,
}

/// The relay of `store`'s outbox to `audit`, timed by `relay_clock`. The
/// broker runs it on the wall clock: its waits are real sleeps, and
/// retries must come due while a test holds the service clock still.
pub fn relay(
    store: &Store,
    identity: Arc<IdentityClient>,
    audit: Channel,
    relay_clock: SharedClock,
    options: RelayOptions,
) -> Deliverer {
    Relay::with_wake(
        store.db().clone(),
        outbox::OUTBOX,
        AuditSink::new("broker", Caller { identity }, audit),
        relay_clock,
        options,
        store.outbox_wake().clone(),
    )
}

/// Delivers until shutdown, checked after every batch.
pub async fn run(
    store: Store,
    identity: Arc<IdentityClient>,
    audit: Channel,
    options: RelayOptions,
    shutdown: CancellationToken,
) {
    let clock = keyholder_kit::clock::system();
    relay(&store, identity, audit, clock, options)
        .run(shutdown)
        .await;
}

#[async_trait::async_trait]
impl AuditCaller for Caller {
    fn event(&self, m: &Message) -> Result<Event, String> {
        outbox::decode(m).ok_or_else(|| "the stored event does not decode".to_string())
    }

    async fn authorize(
        &self,
        req: IngestEventsRequest,
    ) -> Result<tonic::Request<IngestEventsRequest>, String> {
        self.identity.request(req).await.map_err(|e| e.to_string())
    }
}
