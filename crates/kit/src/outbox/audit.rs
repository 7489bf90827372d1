//! The sink both event outboxes (identity's and broker's) deliver through:
//! audit's IngestEvents, a claimed batch in calls of at most
//! [`INGEST_LIMIT`] events and [`INGEST_MAX_BYTES`], in order. When audit refuses a call as invalid,
//! its events are sent one by one so only the offending ones are set aside
//! (dead letters, with audit's reason) and the rest keep flowing; any other
//! failure (audit down, auth …) retries from that event on.

use super::{Message, Outcome, Sink};
use crate::client::Channel;
use keyholder_proto::audit::v1::audit_service_client::AuditServiceClient;
use keyholder_proto::audit::v1::{Event, IngestEventsRequest};
use tracing::Instrument;

/// The most events one IngestEvents call may carry (the proto's "at most
/// 500"; audit refuses more as INVALID_ARGUMENT).
pub const INGEST_LIMIT: usize = 500;

/// The most bytes of encoded events one call carries: three quarters of
/// what a request may hold (`transport_status::MAX_REQUEST_BYTES`, 4 MiB),
/// the rest left for framing. 500 events of the largest kind (long
/// reasons and details in a 4-byte script, ~16 KB each) would exceed the
/// limit, and audit would refuse the whole call on every retry.
pub const INGEST_MAX_BYTES: usize = crate::transport_status::MAX_REQUEST_BYTES / 4 * 3;

/// Where the call that starts at `from` ends, for events of encoded
/// `sizes`: at most [`INGEST_LIMIT`] events and [`INGEST_MAX_BYTES`], and
/// at least one event (a single event over the limit goes alone; audit's
/// refusal then sets only it aside).
fn call_end(sizes: &[usize], from: usize) -> usize {
    let (mut to, mut bytes) = (from, 0usize);
    while to < sizes.len() && to - from < INGEST_LIMIT {
        let more = bytes.saturating_add(sizes[to]);
        if to > from && more > INGEST_MAX_BYTES {
            break;
        }
        (to, bytes) = (to + 1, more);
    }
    to
}

/// What differs between the services delivering to audit.
#[async_trait::async_trait]
pub trait AuditCaller: Send + Sync + 'static {
    /// The event a claimed row stands for, or why it cannot be sent (it is
    /// then set aside).
    fn event(&self, m: &Message) -> Result<Event, String>;

    /// `req` with the service's credentials attached.
    async fn authorize(
        &self,
        req: IngestEventsRequest,
    ) -> Result<tonic::Request<IngestEventsRequest>, String>;
}

/// Delivers event rows to audit.
#[derive(Debug, Clone)]
pub struct AuditSink<A> {
    caller: A,
    audit: Channel,
    client: AuditServiceClient<Channel>,
    service: &'static str,
}

impl<A: AuditCaller> AuditSink<A> {
    /// A sink to `audit` for `service` (named in delivery spans).
    pub fn new(service: &'static str, caller: A, audit: Channel) -> Self {
        Self {
            caller,
            client: AuditServiceClient::new(audit.clone()),
            audit,
            service,
        }
    }

    /// The service's side.
    pub fn caller(&self) -> &A {
        &self.caller
    }

    /// The channel to audit.
    pub fn channel(&self) -> Channel {
        self.audit.clone()
    }

    async fn send(&self, events: Vec<Event>) -> Result<(), Sent> {
        let req = self
            .caller
            .authorize(IngestEventsRequest { events })
            .await
            .map_err(Sent::Other)?;
        match self.client.clone().ingest_events(req).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::InvalidArgument => {
                Err(Sent::Refused(s.message().to_string()))
            }
            Err(s) => Err(Sent::Other(format!("audit: {}", s.message()))),
        }
    }

    async fn deliver_batch(&self, batch: &[Message]) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = vec![None; batch.len()];
        let mut events = Vec::with_capacity(batch.len());
        let mut sendable = Vec::with_capacity(batch.len());
        for (k, m) in batch.iter().enumerate() {
            match self.caller.event(m) {
                Ok(e) => {
                    events.push(e);
                    sendable.push(k);
                }
                Err(why) => out[k] = Some(Outcome::Reject(why)),
            }
        }
        // A relay may claim more rows than one call carries (its batch is
        // configurable, events vary in size): larger claims go in
        // consecutive calls, in order.
        let sizes: Vec<usize> = events.iter().map(prost::Message::encoded_len).collect();
        let mut events = events.into_iter();
        let mut from = 0;
        while from < sendable.len() {
            let to = call_end(&sizes, from);
            let call = &sendable[from..to];
            let stopped = match self.send(events.by_ref().take(call.len()).collect()).await {
                Ok(()) => {
                    fill(&mut out, call, || Outcome::Delivered);
                    None
                }
                Err(Sent::Refused(why)) if call.len() == 1 => {
                    fill(&mut out, call, || Outcome::Reject(why.clone()));
                    None
                }
                Err(Sent::Refused(_)) => self.one_by_one(&mut out, batch, call).await,
                Err(Sent::Other(e)) => Some((0, e)),
            };
            if let Some((n, e)) = stopped {
                // Nothing after a transient failure goes ahead of it.
                fill(&mut out, &sendable[from + n..], || {
                    Outcome::Retry(e.clone())
                });
                break;
            }
            from = to;
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Retry("not sent".into())))
            .collect()
    }

    /// Sends the events of `batch` at `at` one call each, after audit
    /// refused them together; the transient failure that stopped it, if any,
    /// with its position in `at` (the caller retries from there; outcomes
    /// before it stand). The events are decoded again here rather than kept
    /// from the refused call: a refusal is rare, a copy of every batch would
    /// not be.
    async fn one_by_one(
        &self,
        out: &mut [Option<Outcome>],
        batch: &[Message],
        at: &[usize],
    ) -> Option<(usize, String)> {
        for (n, &k) in at.iter().enumerate() {
            let event = match self.caller.event(&batch[k]) {
                Ok(e) => e,
                Err(why) => {
                    out[k] = Some(Outcome::Reject(why));
                    continue;
                }
            };
            match self.send(vec![event]).await {
                Ok(()) => out[k] = Some(Outcome::Delivered),
                Err(Sent::Refused(why)) => out[k] = Some(Outcome::Reject(why)),
                Err(Sent::Other(e)) => return Some((n, e)),
            }
        }
        None
    }
}

fn fill(out: &mut [Option<Outcome>], at: &[usize], outcome: impl Fn() -> Outcome) {
    for &k in at {
        out[k] = Some(outcome());
    }
}

#[async_trait::async_trait]
impl<A: AuditCaller> Sink for AuditSink<A> {
    async fn deliver(&self, batch: &[Message]) -> Vec<Outcome> {
        // The delivery joins the trace of the calls that wrote the batch.
        let span = crate::telemetry::delivery_span(
            self.service,
            batch.iter().map(|m| m.traceparent.as_deref()),
        );
        self.deliver_batch(batch).instrument(span).await
    }
}

/// Why a send failed.
enum Sent {
    /// Audit answered INVALID_ARGUMENT: resending the same events cannot help.
    Refused(String),
    /// Anything else: retry later.
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(sizes: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut from = 0;
        while from < sizes.len() {
            let to = call_end(sizes, from);
            out.push(to - from);
            from = to;
        }
        out
    }

    #[test]
    fn calls_end_at_500_events_or_three_mebibytes_and_hold_at_least_one() {
        assert_eq!(calls(&[1_000; 1_100]), [500, 500, 100]);
        // 16 KB events: 196 fit in 3 MiB.
        assert_eq!(calls(&[16_000; 500]), [196, 196, 108]);
        assert_eq!(
            calls(&[INGEST_MAX_BYTES, 1, INGEST_MAX_BYTES + 1, 1]),
            [1, 1, 1, 1]
        );
        assert_eq!(calls(&[INGEST_MAX_BYTES - 1, 1, 1]), [2, 1]);
        assert!(calls(&[]).is_empty());
    }
}
