//! The one stand-in for audit's `IngestEvents` that identity's and broker's
//! tests deliver to (test code only). It keeps what arrives, counting
//! duplicates, and can play the failures a real audit gives: down
//! (UNAVAILABLE), or a batch refused whole as INVALID_ARGUMENT because it
//! holds more than 500 events, or one event is marked bad or its attributes
//! exceed 16,000 bytes. Given an
//! [`Authenticator`] it checks the caller's token and scope as audit does;
//! without one it only requires a bearer token.

use keyholder_kit::CancellationToken;
use keyholder_kit::auth::{Authenticator, PrincipalKind};
use keyholder_proto::audit::v1::audit_service_server::{AuditService, AuditServiceServer};
use keyholder_proto::audit::v1::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// What the receiver got, and the failures it is told to give.
#[derive(Default)]
pub struct Received {
    /// Accepted events, in arrival order.
    pub events: Mutex<Vec<Event>>,
    /// Events that arrived again (same id).
    pub duplicates: Mutex<u32>,
    /// (principal id, kind) of every authenticated call.
    pub callers: Mutex<Vec<(String, PrincipalKind)>>,
    /// (attribute, value) pairs that make an event invalid.
    pub refuse: Mutex<Vec<(String, String)>>,
    /// Event ids that are invalid.
    pub reject: Mutex<HashSet<String>>,
    /// Batches refused as invalid.
    pub refused_batches: Mutex<u32>,
    /// The number of events in each call it accepted, in order.
    pub calls: Mutex<Vec<usize>>,
    /// While set, every call fails with UNAVAILABLE (audit is down).
    pub down: AtomicBool,
}

impl Received {
    /// Every event, in arrival order.
    pub fn all(&self) -> Vec<Event> {
        self.events.lock().expect("receiver lock").clone()
    }

    /// The events of one kind.
    pub fn of_kind(&self, kind: EventKind) -> Vec<Event> {
        self.all()
            .into_iter()
            .filter(|e| e.kind == kind as i32)
            .collect()
    }

    /// The events of one change (the `change` attribute).
    pub fn of_change(&self, change: &str) -> Vec<Event> {
        self.all()
            .into_iter()
            .filter(|e| e.attributes.get("change").map(String::as_str) == Some(change))
            .collect()
    }

    /// The one event of `change` about `key` = `value`.
    pub fn one(&self, change: &str, key: &str, value: &str) -> Event {
        let found: Vec<Event> = self
            .of_change(change)
            .into_iter()
            .filter(|e| e.attributes.get(key).map(String::as_str) == Some(value))
            .collect();
        assert_eq!(found.len(), 1, "{change} with {key}={value}: {found:?}");
        found.into_iter().next().expect("one event")
    }

    /// How many events arrived again.
    pub fn duplicates(&self) -> u32 {
        *self.duplicates.lock().expect("receiver lock")
    }

    /// Why a batch is refused, if it is.
    fn refusal(&self, events: &[Event]) -> Option<String> {
        let limit = keyholder_kit::outbox::audit::INGEST_LIMIT;
        if events.len() > limit {
            return Some(format!(
                "at most {limit} events may be sent at once, got {}",
                events.len()
            ));
        }
        let refuse = self.refuse.lock().expect("receiver lock").clone();
        let reject = self.reject.lock().expect("receiver lock").clone();
        events.iter().enumerate().find_map(|(i, e)| {
            let size: usize = e.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
            let marked = refuse
                .iter()
                .any(|(k, v)| e.attributes.get(k).is_some_and(|have| have == v));
            if size > 16_000 || marked {
                Some(format!("event {i}: attributes is not valid"))
            } else if reject.contains(&e.event_id) {
                Some(format!("event {i}: entity is longer than 200 characters"))
            } else {
                None
            }
        })
    }
}

#[derive(Clone)]
struct Receiver {
    received: Arc<Received>,
    auth: Option<Authenticator>,
}

#[tonic::async_trait]
impl AuditService for Receiver {
    async fn ingest_events(
        &self,
        request: Request<IngestEventsRequest>,
    ) -> Result<Response<IngestEventsResponse>, Status> {
        match &self.auth {
            Some(auth) => {
                let p = auth
                    .authenticate(&request)
                    .await
                    .map_err(|e| Status::unauthenticated(e.to_string()))?;
                p.require_scope("audit.events.write")
                    .map_err(|e| Status::permission_denied(e.to_string()))?;
                self.received
                    .callers
                    .lock()
                    .expect("receiver lock")
                    .push((p.id.clone(), p.kind));
            }
            None if request.metadata().get("authorization").is_none() => {
                return Err(Status::unauthenticated("no token"));
            }
            None => {}
        }
        if self.received.down.load(Ordering::SeqCst) {
            return Err(Status::unavailable("test receiver is down"));
        }
        let events = request.into_inner().events;
        if let Some(why) = self.received.refusal(&events) {
            *self.received.refused_batches.lock().expect("receiver lock") += 1;
            return Err(Status::invalid_argument(why));
        }
        self.received
            .calls
            .lock()
            .expect("receiver lock")
            .push(events.len());
        let mut have = self.received.events.lock().expect("receiver lock");
        let (mut accepted, mut duplicates) = (0, 0);
        for e in events {
            if have.iter().any(|h| h.event_id == e.event_id) {
                duplicates += 1;
            } else {
                have.push(e);
                accepted += 1;
            }
        }
        *self.received.duplicates.lock().expect("receiver lock") += duplicates;
        Ok(Response::new(IngestEventsResponse {
            accepted,
            duplicates,
        }))
    }
    async fn list_login_history(
        &self,
        _: Request<ListLoginHistoryRequest>,
    ) -> Result<Response<ListLoginHistoryResponse>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
    async fn list_events(
        &self,
        _: Request<ListEventsRequest>,
    ) -> Result<Response<ListEventsResponse>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
    type ExportEventsStream = tokio_stream::Empty<Result<ExportEventsResponse, Status>>;
    async fn export_events(
        &self,
        _: Request<ExportEventsRequest>,
    ) -> Result<Response<Self::ExportEventsStream>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
    async fn verify_chain(
        &self,
        _: Request<VerifyChainRequest>,
    ) -> Result<Response<VerifyChainResponse>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
    async fn list_notifications(
        &self,
        _: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
    async fn verify_receipt(
        &self,
        _: Request<VerifyReceiptRequest>,
    ) -> Result<Response<VerifyReceiptResponse>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
}

/// Serves a receiver on `listener` until `stop` is cancelled.
pub fn serve_receiver(
    listener: TcpListener,
    received: Arc<Received>,
    auth: Option<Authenticator>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(AuditServiceServer::new(Receiver { received, auth }))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                stop.cancelled_owned(),
            )
            .await;
    });
}
