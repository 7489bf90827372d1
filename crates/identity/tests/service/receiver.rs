//! Identity delivering to the testkit's audit receiver, which checks the
//! caller's token exactly as audit does (identity's published keys, scope
//! `audit.events.write`).

use keyholder_identity::IdentityHandle;
use keyholder_kit::auth::Authenticator;
use keyholder_kit::client::RemoteKeySet;
pub use keyholder_testkit::audit_receiver::Received;
use keyholder_testkit::{Suite, local_channel};
use std::net::SocketAddr;
use std::sync::Arc;

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
        keyholder_testkit::audit_receiver::serve_receiver(
            listener,
            self.received.clone(),
            Some(auth),
            self.s.shutdown.clone(),
        );
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
