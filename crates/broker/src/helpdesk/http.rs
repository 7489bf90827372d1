//! The webhook port: `POST /webhooks/<connector_id>` with the helpdesk's raw
//! body and headers, over HTTP/1.1 (what helpdesks send). [`serve`] takes a
//! bound listener and hands each accepted stream to [`connection`], so a TLS
//! acceptor can wrap the streams the way the gRPC listeners are wrapped.
//! Slow or stuck clients are cut off (headers within 10 s, a request within
//! 30 s) and at most 512 connections are served at once.

use super::inbound::{self, Delivery, Outcome, RefusalBudget};
use crate::Core;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyholder_kit::CancellationToken;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest webhook body accepted (Jira's issue payloads are the largest, well below).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct AppState {
    core: Arc<Core>,
    budget: Arc<RefusalBudget>,
}

async fn webhook(
    State(s): State<AppState>,
    Path(connector_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let outcome = inbound::handle(
        &s.core,
        &s.budget,
        Delivery {
            connector_id: &connector_id,
            header: &header,
            body: &body,
            remote: peer.ip().to_string(),
        },
    )
    .await;
    let (code, text) = match outcome {
        Outcome::Closed { revoked, cancelled } => (
            StatusCode::OK,
            format!("ticket closed: {revoked} grants revoked, {cancelled} requests cancelled"),
        ),
        Outcome::Requested { access_request_id } => (
            StatusCode::OK,
            format!("access requested: {access_request_id}"),
        ),
        Outcome::AlreadyRequested => (StatusCode::OK, "access already requested".into()),
        Outcome::Unprocessable(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
        Outcome::AlreadyProcessed => (StatusCode::OK, "already processed".into()),
        Outcome::Ignored(why) => (StatusCode::OK, format!("ignored: {why}")),
        // The cause is told, never which part of the signature was wrong.
        Outcome::Refused(why) => (StatusCode::UNAUTHORIZED, format!("refused: {why}")),
        Outcome::BadPayload(why) => (StatusCode::BAD_REQUEST, why),
        Outcome::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "try again later".to_string(),
        ),
    };
    (code, text).into_response()
}

/// The one route, its body limit and its state.
fn router(core: Arc<Core>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/{connector_id}", axum::routing::post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState {
            core,
            budget: Arc::new(RefusalBudget::default()),
        })
}

/// Longest wait for a request's headers: a client that trickles them is cut off.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a whole request may take, body and handling included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listener's backlog.
pub const MAX_CONNECTIONS: usize = 512;

/// Serves helpdesk webhooks on `listener` until `shutdown`, over HTTP/1.1.
/// Each accepted connection goes to [`connection`], which takes any
/// stream: a TLS acceptor slots in between `accept` and it.
pub(crate) async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(core);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause, not spin.
                    tracing::warn!(error = %e, "accepting a webhook connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        conns.spawn(connection(
            stream,
            peer,
            app.clone(),
            shutdown.clone(),
            permit,
        ));
        while conns.try_join_next().is_some() {}
    }
    // In-flight requests finish (each bounded by REQUEST_TIMEOUT).
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// Serves one connection (plain TCP today, or a TLS stream).
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: axum::Router,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move {
            let call = tower::Service::call(&mut app, req.map(axum::body::Body::new));
            match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
                Ok(answer) => answer,
                Err(_) => {
                    Ok((StatusCode::REQUEST_TIMEOUT, "request took too long").into_response())
                }
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "webhook connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
