//! One way to serve: the service's routes plus gRPC health and reflection,
//! on a listener the caller bound (so tests use port 0), stopping on a
//! cancellation token with a bounded grace period.

use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
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
    /// The transport failed.
    #[error("server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Whether a service can do its job right now (health says NOT_SERVING
/// while it cannot).
pub trait Readiness: Send + Sync {
    /// Ready to serve.
    fn ready(&self) -> bool;
}

impl Readiness for crate::standing::StandingTable {
    fn ready(&self) -> bool {
        self.is_fresh()
    }
}

/// How often readiness is re-evaluated for health.
const READINESS_EVERY: Duration = Duration::from_millis(500);

/// What to announce, who may pass, and how long to wait when stopping.
#[derive(Clone)]
pub struct ServeOptions {
    /// Fully qualified gRPC service names reported SERVING by health.
    pub health_names: Vec<&'static str>,
    /// How long in-flight calls may take after shutdown begins.
    pub grace: Duration,
    /// The authentication gate in front of every route.
    pub gate: crate::gate::Gate,
    /// Readiness beyond "the listener is up", if the service has any.
    pub readiness: Option<std::sync::Arc<dyn Readiness>>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("health_names", &self.health_names)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

/// Accepted connections with Nagle's algorithm off: a server-streaming
/// message (a standing change) or a small answer otherwise waits for the
/// peer's delayed ACK, about 40 ms on Linux.
fn no_delay(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        if let Err(e) = conn.set_nodelay(true) {
            tracing::debug!(error = %e, "could not turn Nagle's algorithm off");
        }
        Ok(conn)
    })
}

/// Keeps health in step with `readiness` until shutdown.
async fn track_readiness(
    readiness: std::sync::Arc<dyn Readiness>,
    reporter: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
    shutdown: CancellationToken,
) {
    let mut last = None;
    loop {
        let ready = readiness.ready();
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
            if !ready {
                tracing::warn!("not ready: health reports NOT_SERVING");
            }
            last = Some(ready);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(READINESS_EVERY) => {}
        }
    }
}

/// Serves `routes` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in &options.health_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    if let Some(readiness) = options.readiness.clone() {
        tokio::spawn(track_readiness(
            readiness,
            reporter.clone(),
            options.health_names.clone(),
            shutdown.clone(),
        ));
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(keyholder_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, services = ?options.health_names, "serving");

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
    let server = Server::builder()
        .trace_fn(crate::telemetry::grpc_span)
        // Outermost first: a panic anywhere inside becomes an answer; tonic's
        // own refusals (undecodable, too large) are reworded; then the gate.
        .layer(crate::catch_panic::CatchPanicLayer)
        .layer(crate::transport_status::TransportStatusLayer)
        .layer(options.gate.clone())
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection)
        .serve_with_incoming_shutdown(no_delay(listener), on_stop);
    tokio::pin!(server);
    let grace = options.grace;
    tokio::select! {
        result = &mut server => result?,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; dropping open connections");
        }
    }
    tracing::info!(addr = ?addr, "stopped");
    Ok(())
}
