//! Test support: start the real Keyholder services in-process on ephemeral
//! ports against real databases (a fresh SQLite file per test, or a fresh
//! PostgreSQL database when `KEYHOLDER_TEST_DATABASE_URL` is set), and the
//! fixtures most tests need (operator, tenants, employees, agents, service
//! accounts).

// Test support fails loudly on purpose: a broken fixture must stop the test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod audit;
pub mod audit_receiver;
pub mod broker;
pub mod db;
mod fixtures;
pub mod identity_helpers;
pub mod raw_rpc;
pub mod smtp;
pub mod tls;
pub mod xorshift;

pub use fixtures::{AgentFixture, TenantFixture, UserFixture};
pub use identity_helpers::totp_at;

use keyholder_kit::CancellationToken;
use keyholder_kit::clock::ManualClock;
use keyholder_kit::config::Config;
use keyholder_kit::tls::TlsConfig;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// A running set of services for one test. Dropping it stops them.
pub struct Suite {
    /// Temporary data dir (credentials files, mail folder, SQLite files).
    pub dir: tempfile::TempDir,
    /// The configuration services were (or will be) started with.
    pub config: Config,
    /// The clock given to broker and audit; starts at the real now.
    pub clock: Arc<ManualClock>,
    /// Cancelled on drop: stops every service of the suite.
    pub shutdown: CancellationToken,
    identity: Option<Channel>,
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Binds an ephemeral loopback port.
pub async fn ephemeral_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Binds `addr` again once its previous listener has let go (bounded wait).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if std::time::Instant::now() >= deadline => panic!("rebind {addr}: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// A lazily connecting channel to a local address, over TLS when the
/// process's suites run over TLS (`KEYHOLDER_TEST_TLS`).
pub fn local_channel(addr: SocketAddr) -> Channel {
    channel_to(addr, &tls::suite_tls())
}

/// `http://addr`, or `https://addr` when `tls` serves TLS.
pub fn url_of(addr: SocketAddr, tls: &TlsConfig) -> String {
    let scheme = if tls.serves_tls() { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// A lazily connecting channel to `addr` as a client with `tls` (verifying
/// with its CA, presenting its certificate when asked).
pub fn channel_to(addr: SocketAddr, tls: &TlsConfig) -> Channel {
    keyholder_kit::client::plain_channel(&url_of(addr, tls), tls).expect("channel")
}

/// The socket address in a service URL (`http://` or `https://`).
pub fn addr_in(url: &str) -> SocketAddr {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .parse()
        .expect("a service URL with an IP address and a port")
}

impl Suite {
    /// A fresh data dir and fresh databases; nothing started yet.
    pub async fn new() -> Self {
        keyholder_kit::telemetry::init_for_tests();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            shutdown_grace_secs: 1,
            // Each suite its own key-encryption key, as an operator would
            // pass it in the environment.
            kek: Some(keyholder_kit::kek::generate().expect("a fresh kek")),
            tls: tls::suite_tls(),
            ..Config::default()
        };
        let urls = db::fresh_urls(dir.path()).await;
        config.identity.database_url = Some(urls.identity);
        config.broker.database_url = Some(urls.broker);
        config.audit.database_url = Some(urls.audit);
        Self {
            dir,
            config,
            clock: ManualClock::new(chrono::Utc::now()),
            shutdown: CancellationToken::new(),
            identity: None,
        }
    }

    /// Starts identity on the suite's clock (the one broker and audit run on).
    pub async fn start_identity(&mut self) -> SocketAddr {
        self.start_identity_stoppable(None).await.0
    }

    /// Starts identity on `addr` (a fresh port when `None`) with its own stop
    /// switch, so a test can take identity down and bring it back on the same
    /// address (same database).
    pub async fn start_identity_stoppable(
        &mut self,
        addr: Option<SocketAddr>,
    ) -> (SocketAddr, CancellationToken) {
        let svc = keyholder_identity::Identity::prepare(&self.config, self.clock.clone())
            .await
            .expect("identity prepares");
        let (listener, addr) = match addr {
            None => ephemeral_listener().await,
            Some(a) => (rebind(a).await, a),
        };
        let url = self.url(addr);
        self.config.identity.url = url;
        let stop = self.shutdown.child_token();
        let serving = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = svc.serve(listener, serving).await {
                eprintln!("identity stopped with error: {e}");
            }
        });
        self.identity = Some(self.channel(addr));
        (addr, stop)
    }

    /// The code of a TOTP secret now, by the suite's clock (the one identity
    /// checks codes by).
    pub fn totp(&self, secret_base32: &str) -> String {
        totp_at(
            secret_base32,
            u64::try_from(keyholder_kit::clock::Clock::now(&*self.clock).timestamp()).unwrap_or(0),
        )
    }

    /// The code of the step after the current one, by the suite's clock
    /// (still accepted, one step of skew): for signing someone in again
    /// whose current code is already spent.
    pub fn next_totp(&self, secret_base32: &str) -> String {
        let now = keyholder_kit::clock::Clock::now(&*self.clock).timestamp();
        totp_at(secret_base32, u64::try_from(now).unwrap_or(0) + 30)
    }

    /// The URL of a service of this suite at `addr` (`https://` when it
    /// serves TLS).
    pub fn url(&self, addr: SocketAddr) -> String {
        url_of(addr, &self.config.tls)
    }

    /// A channel to a service of this suite at `addr`, as a client with the
    /// suite's `[tls]`.
    pub fn channel(&self, addr: SocketAddr) -> Channel {
        channel_to(addr, &self.config.tls)
    }

    /// A client of the started identity service.
    pub fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.identity.clone().expect("start_identity first"))
    }
}

/// Wraps a message with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    keyholder_kit::client::authorized(message, token)
}
