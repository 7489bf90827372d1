//! The webhook port: `POST /webhooks/<connector_id>` with the helpdesk's raw
//! body and headers. [`serve`] takes a bound listener, so a TLS acceptor can
//! wrap it the way the gRPC listeners are wrapped.

use super::inbound::{self, Delivery, Outcome, RefusalBudget};
use crate::Core;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyholder_kit::CancellationToken;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

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

/// The router (for tests that drive it without a socket).
fn router(core: Arc<Core>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/{connector_id}", axum::routing::post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState {
            core,
            budget: Arc::new(RefusalBudget::default()),
        })
}

/// Serves helpdesk webhooks on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(core).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
