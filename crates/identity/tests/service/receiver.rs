//! A stand-in for audit's IngestEvents (test code only): it checks the
//! caller's token exactly as audit does (identity's published keys, scope
//! `audit.events.write`) and keeps what arrives, counting duplicates. Like
//! audit it refuses a whole batch as INVALID_ARGUMENT when one event's
//! attributes exceed 16,000 bytes, or (for tests) when one carries an
//! attribute listed in `refuse`.

use keyholder_identity::IdentityHandle;
use keyholder_kit::auth::{Authenticator, PrincipalKind};
use keyholder_kit::client::RemoteKeySet;
use keyholder_proto::audit::v1::audit_service_server::{AuditService, AuditServiceServer};
use keyholder_proto::audit::v1::*;
use keyholder_testkit::{Suite, local_channel};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic::{Request, Response, Status};

/// What the receiver got.
#[derive(Default)]
pub struct Received {
    pub events: Mutex<Vec<Event>>,
    pub duplicates: Mutex<u32>,
    /// (principal id, kind) of every accepted call.
    pub callers: Mutex<Vec<(String, PrincipalKind)>>,
    /// (attribute, value) pairs that make an event invalid.
    pub refuse: Mutex<Vec<(String, String)>>,
    /// Batches refused as invalid.
    pub refused_batches: Mutex<u32>,
}

impl Received {
    /// Every event, in arrival order.
    pub fn all(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
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
        found.into_iter().next().unwrap()
    }

    pub fn duplicates(&self) -> u32 {
        *self.duplicates.lock().unwrap()
    }
}

#[derive(Clone)]
struct Receiver {
    received: Arc<Received>,
    auth: Authenticator,
}

#[tonic::async_trait]
impl AuditService for Receiver {
    async fn ingest_events(
        &self,
        request: Request<IngestEventsRequest>,
    ) -> Result<Response<IngestEventsResponse>, Status> {
        let p = self
            .auth
            .authenticate(&request)
            .await
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        p.require_scope("audit.events.write")
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        self.received
            .callers
            .lock()
            .unwrap()
            .push((p.id.clone(), p.kind));
        let events = request.into_inner().events;
        let refuse = self.received.refuse.lock().unwrap().clone();
        for (i, e) in events.iter().enumerate() {
            let size: usize = e.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
            let marked = refuse
                .iter()
                .any(|(k, v)| e.attributes.get(k).is_some_and(|have| have == v));
            if size > 16_000 || marked {
                *self.received.refused_batches.lock().unwrap() += 1;
                return Err(Status::invalid_argument(format!(
                    "event {i}: attributes is not valid"
                )));
            }
        }
        let mut have = self.received.events.lock().unwrap();
        let (mut accepted, mut duplicates) = (0, 0);
        for e in events {
            if have.iter().any(|h| h.event_id == e.event_id) {
                duplicates += 1;
            } else {
                have.push(e);
                accepted += 1;
            }
        }
        *self.received.duplicates.lock().unwrap() += duplicates;
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
        _: Request<keyholder_proto::audit::v1::VerifyReceiptRequest>,
    ) -> Result<Response<keyholder_proto::audit::v1::VerifyReceiptResponse>, Status> {
        Err(Status::unimplemented("test receiver"))
    }
}

/// A suite whose identity sends its events to `audit_addr`, where nothing
/// listens until [`Ctx::receiver_up`].
pub struct Ctx {
    pub s: Suite,
    pub handle: IdentityHandle,
    pub audit_addr: SocketAddr,
    pub identity_addr: SocketAddr,
    pub received: Arc<Received>,
}

impl Ctx {
    /// Identity started, audit down.
    pub async fn down() -> Self {
        let mut s = Suite::new().await;
        let audit_addr = keyholder_testkit::smtp::reserve_addr();
        s.config.audit.url = format!("http://{audit_addr}");
        let (identity_addr, handle) = s
            .start_identity_with_handle(keyholder_kit::clock::system())
            .await;
        Self {
            s,
            handle,
            audit_addr,
            identity_addr,
            received: Arc::new(Received::default()),
        }
    }

    /// Identity started, the receiver listening.
    pub async fn up() -> Self {
        let c = Self::down().await;
        c.receiver_up().await;
        c
    }

    /// Starts the receiver on the reserved address.
    pub async fn receiver_up(&self) {
        let listener = tokio::net::TcpListener::bind(self.audit_addr)
            .await
            .unwrap();
        let auth = Authenticator::new(
            Arc::new(RemoteKeySet::new(local_channel(self.identity_addr))),
            keyholder_kit::auth::AUDIENCE_AUDIT,
            keyholder_kit::clock::system(),
        );
        let svc = Receiver {
            received: self.received.clone(),
            auth,
        };
        let stop = self.s.shutdown.clone();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(AuditServiceServer::new(svc))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    stop.cancelled_owned(),
                )
                .await;
        });
    }

    /// Delivers until the outbox is empty (fails if audit refuses). With
    /// the background deliverer running beside it, whichever sends first
    /// wins; the other finds nothing left.
    pub async fn flush(&self) {
        loop {
            self.handle.deliver_once().await.unwrap();
            if self.handle.undelivered_events().await.unwrap() == 0 {
                return;
            }
        }
    }
}
