//! One way to serve: the service's routes plus gRPC health and reflection,
//! on a listener the caller bound (so tests use port 0), stopping on a
//! cancellation token with a bounded grace period.

use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not be built from the descriptor sets.
    #[error("cannot build reflection: {0}")]
    Reflection(String),
    /// The metrics port could not be bound.
    #[error("cannot serve metrics on {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
    /// The transport failed.
    #[error("server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// TLS could not be set up, or plaintext is refused on this address.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// One thing a service needs to do its job (its database, identity's
/// standing feed …): health says NOT_SERVING while any of them fails.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    /// `Err(why)` while it cannot be relied on, in words for the log.
    async fn check(&self) -> Result<(), String>;
}

#[async_trait::async_trait]
impl Readiness for crate::standing::StandingTable {
    async fn check(&self) -> Result<(), String> {
        if self.is_fresh() {
            Ok(())
        } else {
            Err("identity's standing feed is not confirmed recently".into())
        }
    }
}

/// The service's database answers a ping within [`DB_PING_TIMEOUT`].
pub struct DatabaseReady(pub sea_orm::DatabaseConnection);

/// Longest a readiness ping of the database may take.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

#[async_trait::async_trait]
impl Readiness for DatabaseReady {
    async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(DB_PING_TIMEOUT, self.0.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the database does not answer: {e}")),
            Err(_) => Err("the database did not answer a ping within 2 s".into()),
        }
    }
}

/// The first failing check, if any.
pub(crate) async fn first_failure(checks: &[std::sync::Arc<dyn Readiness>]) -> Option<String> {
    for c in checks {
        if let Err(why) = c.check().await {
            return Some(why);
        }
    }
    None
}

/// How often readiness is re-evaluated for health.
const READINESS_EVERY: Duration = Duration::from_millis(500);

/// Calls one client connection may have in flight at once (HTTP/2
/// `SETTINGS_MAX_CONCURRENT_STREAMS`). Enough for any client's
/// parallelism; beyond it calls queue on the client's side.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// What to announce, who may pass, and how long to wait when stopping.
pub struct ServeOptions {
    /// Fully qualified gRPC service names reported SERVING by health.
    pub health_names: Vec<&'static str>,
    /// How long in-flight calls may take after shutdown begins.
    pub grace: Duration,
    /// The authentication gate in front of every route.
    pub gate: crate::gate::Gate,
    /// What must hold for the service to be SERVING beyond "the listener is
    /// up". Until every check has passed once, health says NOT_SERVING.
    pub readiness: Vec<std::sync::Arc<dyn Readiness>>,
    /// The service's metrics: every call is counted and timed here.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Where to serve them; not served when unset.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The `[tls]` settings: both listeners speak TLS when a certificate is
    /// set; without one they may bind only loopback addresses (unless
    /// allowed).
    pub tls: crate::tls::TlsConfig,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("health_names", &self.health_names)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

/// Keeps health in step with `readiness` until shutdown.
async fn track_readiness(
    readiness: Vec<std::sync::Arc<dyn Readiness>>,
    reporter: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
    shutdown: CancellationToken,
) {
    let mut last = None;
    loop {
        let failure = first_failure(&readiness).await;
        let ready = failure.is_none();
        if shutdown.is_cancelled() {
            return;
        }
        if last != Some(ready) {
            let status = if ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            for name in &names {
                reporter.set_service_status(*name, status).await;
            }
            match &failure {
                Some(why) => tracing::warn!(reason = %why, "not ready: health reports NOT_SERVING"),
                None => tracing::info!("ready: health reports SERVING"),
            }
            last = Some(ready);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(READINESS_EVERY) => {}
        }
    }
}

/// Reflection in both protocol versions (v1alpha for older grpcurl,
/// grpc_cli, Evans and Postman), listing only the services this listener
/// serves, plus health.
fn reflection(
    names: &[&'static str],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(keyholder_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for name in names {
            b = b.with_service_name(*name);
        }
        b
    };
    let v1 = builder()
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let v1alpha = builder()
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    Ok((v1, v1alpha))
}

/// An address for the log: `127.0.0.1:50052`, not `Some(127.0.0.1:50052)`.
fn shown(addr: Option<std::net::SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

/// Serves `routes` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    // Refuse before anything starts: plaintext off loopback, bad TLS files.
    let addr = listener.local_addr().ok();
    if let Some(a) = addr {
        options.tls.check_plaintext_listener(a)?;
    }
    if let Some(a) = options.metrics_listen {
        options.tls.check_plaintext_listener(a)?;
    }
    let grpc_tls = crate::tls::ServerTls::for_grpc(&options.tls)?;
    let metrics_tls = crate::tls::ServerTls::for_metrics(&options.tls)?;
    let (reporter, health) = tonic_health::server::health_reporter();
    // Nothing is SERVING before its checks have passed once.
    let initial = if options.readiness.is_empty() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", initial).await;
    for name in &options.health_names {
        reporter.set_service_status(*name, initial).await;
    }
    if !options.readiness.is_empty() {
        tokio::spawn(track_readiness(
            options.readiness.clone(),
            reporter.clone(),
            options.health_names.clone(),
            shutdown.clone(),
        ));
    }
    let (reflection_v1, reflection_v1alpha) = reflection(&options.health_names)?;
    if let Some(addr) = options.metrics_listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Metrics(addr, e))?;
        let (metrics, stop) = (options.metrics.clone(), shutdown.clone());
        let checks = options.readiness.clone();
        tokio::spawn(async move {
            if let Err(e) =
                crate::metrics::serve_metrics(l, metrics_tls, metrics, checks, stop).await
            {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    tracing::info!(addr = %shown(addr), tls = grpc_tls.is_some(), client_auth = options.tls.client_auth && grpc_tls.is_some(), services = ?options.health_names, "serving");

    let stop = shutdown.clone();
    let names = options.health_names.clone();
    let on_stop = async move {
        stop.cancelled().await;
        // Tell load balancers first, so new calls go elsewhere while we drain.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in names {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    };
    // Spans say which service served them, so `up` can export each
    // service's spans under its own `service.name`.
    let owner: &'static str = options
        .health_names
        .first()
        .map_or("", |n| crate::telemetry::owner_of(n));
    let server = Server::builder()
        // Backpressure: a client (or a load balancer's one pooled connection)
        // sending faster than the service answers waits for a free stream
        // instead of piling decoded requests up in this process's memory.
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .trace_fn(move |req| crate::telemetry::grpc_span(owner, req))
        // Outermost first: every call is counted and logged with its final
        // status; a panic anywhere inside becomes an answer; tonic's
        // own refusals (undecodable, too large) are reworded; then the gate.
        .layer(crate::metrics::MetricsLayer(options.metrics.clone()))
        .layer(crate::catch_panic::CatchPanicLayer)
        .layer(crate::transport_status::TransportStatusLayer)
        .layer(options.gate.clone())
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            crate::tls::server_incoming(listener, grpc_tls, shutdown.clone()),
            on_stop,
        );
    tokio::pin!(server);
    let grace = options.grace;
    tokio::select! {
        result = &mut server => result?,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; dropping open connections");
        }
    }
    tracing::info!(addr = %shown(addr), "stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Stale;

    #[async_trait::async_trait]
    impl Readiness for Stale {
        async fn check(&self) -> Result<(), String> {
            Err("stale".into())
        }
    }

    #[tokio::test]
    async fn a_closed_database_makes_the_service_not_ready() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let url = crate::secret::Secret::new(format!("sqlite://{}/r.db", dir.path().display()));
        let db = crate::db::connect(&url)
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        let checks: Vec<Arc<dyn Readiness>> = vec![Arc::new(DatabaseReady(db.clone()))];
        assert_eq!(first_failure(&checks).await, None);
        let _ = db.close_by_ref().await;
        let why = first_failure(&checks).await;
        assert!(
            why.as_deref()
                .is_some_and(|w| w.starts_with("the database does not answer")),
            "{why:?}"
        );
    }

    struct AnyKey;

    #[async_trait::async_trait]
    impl crate::auth::KeyResolver for AnyKey {
        async fn resolve(&self, _: &str) -> Option<jsonwebtoken::DecodingKey> {
            None
        }
    }

    #[tokio::test]
    async fn a_connection_is_told_how_many_calls_it_may_have_in_flight() {
        let auth = crate::auth::Authenticator::new(
            Arc::new(AnyKey),
            crate::auth::AUDIENCE_BROKER,
            crate::clock::system(),
        );
        let standing = Arc::new(crate::standing::StandingTable::new(Duration::from_secs(1)));
        let options = ServeOptions {
            health_names: vec!["keyholder.test.v1.Test"],
            grace: Duration::from_millis(10),
            gate: crate::gate::Gate::new(auth, standing, &[]),
            readiness: Vec::new(),
            metrics: crate::metrics::Metrics::new("test"),
            metrics_listen: None,
            tls: crate::tls::TlsConfig::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| unreachable!("{e}"));
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, Routes::default(), options, stop.clone()));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        let (_calls, mut conn) = h2::client::handshake(tcp)
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        // Driving the connection reads the server's SETTINGS frame.
        let mut announced = conn.max_concurrent_send_streams();
        for _ in 0..200 {
            tokio::select! {
                _ = &mut conn => break,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            announced = conn.max_concurrent_send_streams();
            if announced == MAX_CONCURRENT_STREAMS as usize {
                break;
            }
        }
        assert_eq!(announced, 256);
        stop.cancel();
        let _ = server.await;
    }

    #[tokio::test]
    async fn the_first_failing_check_is_the_reason() {
        let checks: Vec<Arc<dyn Readiness>> = vec![Arc::new(Stale)];
        assert_eq!(first_failure(&checks).await.as_deref(), Some("stale"));
        assert_eq!(first_failure(&[]).await, None);
    }
}
