//! Prometheus metrics and the access log, one registry per service.
//!
//! [`MetricsLayer`] sits outermost in `serve`: it sees every call, refused
//! or not, and records it when its gRPC status is known — in the response
//! headers for a refusal, in the trailers for everything else — as a count
//! by method and code, a latency histogram by method, and one access-log
//! line (method, code, latency, caller id; never a token or a message
//! body). Services add their own gauges (outbox depth, mail queue, active
//! grants …) with [`Metrics::gauge`] and keep them current. The text
//! exposition is served on the service's own metrics port by
//! [`serve_metrics`].

use crate::grpc_status::{OnStatus, code_in};
use http_body::Body;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// A gauge holding a float (an age in seconds, a count).
pub type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// Latency buckets, seconds: 100 µs to 10 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// One service's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry whose series all carry `service="<service>"`.
    pub fn new(service: &str) -> Arc<Self> {
        let mut registry = Registry::with_labels(std::iter::once((
            "service".into(),
            service.to_string().into(),
        )));
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "keyholder_rpc_requests",
            "RPCs answered, by method and gRPC status code",
            calls.clone(),
        );
        let latency =
            Family::<MethodLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "keyholder_rpc_duration_seconds",
            "Time from a call's arrival to its status, by method",
            latency.clone(),
        );
        Arc::new(Self {
            registry: Mutex::new(registry),
            calls,
            latency,
        })
    }

    /// Registers a gauge the service keeps current.
    pub fn gauge(&self, name: &str, help: &str) -> FloatGauge {
        let g = FloatGauge::default();
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, g.clone());
        }
        g
    }

    /// Registers a counter the service increments.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, c.clone());
        }
        c
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock()
            && prometheus_client::encoding::text::encode(&mut out, &r).is_err()
        {
            out.clear();
        }
        out
    }

    fn record(&self, method: &str, code: Code, seconds: f64) {
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_string(),
                code: code_name(code).to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .observe(seconds);
    }
}

/// The canonical upper-case name of a code, as gRPC documents them.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The caller the gate admitted, put in the response's extensions so the
/// access log can name who called without seeing the token.
/// (The gate's own verified entry, shared: no copy of the id per call.)
#[derive(Debug, Clone)]
pub struct CallerId(pub Arc<(crate::auth::Principal, i64)>);

/// A call whose status is not known yet.
struct Pending {
    metrics: Arc<Metrics>,
    method: String,
    caller: Option<CallerId>,
    start: Instant,
    span: tracing::Span,
}

impl Pending {
    fn finish(self, code: Code) {
        let elapsed = self.start.elapsed();
        crate::telemetry::record_status(&self.span, code, true);
        self.metrics
            .record(&self.method, code, elapsed.as_secs_f64());
        let caller = self.caller.as_ref().map_or("", |c| c.0.0.id.as_str());
        tracing::info!(
            target: "keyholder::access",
            method = %self.method,
            grpc_status_code = code as i32,
            code = code_name(code),
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            principal = caller,
            "rpc"
        );
    }
}

/// A response body that records the call when its status is known (or
/// CANCELLED when it is dropped first: the call did not finish).
pub type Metered<B> = OnStatus<B, Box<dyn FnOnce(Code) + Send>>;

/// The layer, mounted outermost in `serve`.
#[derive(Debug, Clone)]
pub struct MetricsLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service whose calls are counted, timed and logged.
#[derive(Debug, Clone)]
pub struct Measured<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Measured<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body + Unpin,
{
    type Response = http::Response<Metered<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let pending = Pending {
            metrics: self.metrics.clone(),
            method: req.uri().path().to_string(),
            caller: None,
            start: Instant::now(),
            span: tracing::Span::none(),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let response = fut.await?;
            let (parts, body) = response.into_parts();
            let mut pending = pending;
            pending.caller = parts.extensions.get::<CallerId>().cloned();
            pending.span = tracing::Span::current();
            // A trailers-only answer (a refusal) carries its status here;
            // otherwise it comes with the trailers.
            let body = match code_in(&parts.headers) {
                Some(code) => {
                    pending.finish(code);
                    OnStatus::new(body, Box::new(|_| {}) as Box<dyn FnOnce(Code) + Send>, None)
                }
                None => OnStatus::new(
                    body,
                    Box::new(move |code| pending.finish(code)) as Box<dyn FnOnce(Code) + Send>,
                    Some(Code::Cancelled),
                ),
            };
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// How a [`SqlGauge`]'s query is read.
#[derive(Debug, Clone, Copy)]
pub enum Reading {
    /// The query's one value as it is (a count).
    Value,
    /// The query's one value is an instant in units of `1/per_second` s
    /// since the epoch (or NULL): the gauge shows its age in seconds, 0
    /// when there is none.
    AgeOf {
        /// Units per second of the column (1, 1 000 or 1 000 000).
        per_second: i64,
    },
}

/// A gauge read from the service's own database by one query returning one
/// integer (or NULL).
#[derive(Debug, Clone)]
pub struct SqlGauge {
    /// The gauge.
    pub gauge: FloatGauge,
    /// `SELECT …` of one value, valid on SQLite and PostgreSQL.
    pub sql: &'static str,
    /// How to read it.
    pub reading: Reading,
}

impl Metrics {
    /// Registers a gauge read by `sql`.
    pub fn sql_gauge(
        &self,
        name: &str,
        help: &str,
        sql: &'static str,
        reading: Reading,
    ) -> SqlGauge {
        SqlGauge {
            gauge: self.gauge(name, help),
            sql,
            reading,
        }
    }
}

/// How often [`refresh_sql_gauges`] reads the database.
pub const SQL_GAUGE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads every gauge's query now.
pub async fn read_sql_gauges(db: &sea_orm::DatabaseConnection, gauges: &[SqlGauge]) {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    for g in gauges {
        let row = db
            .query_one_raw(Statement::from_string(backend, g.sql))
            .await;
        let value = match row {
            Ok(Some(r)) => r.try_get_by_index::<Option<i64>>(0).ok().flatten(),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, sql = g.sql, "metrics query failed");
                continue;
            }
        };
        let shown = match (g.reading, value) {
            (Reading::Value, v) => v.unwrap_or(0) as f64,
            (Reading::AgeOf { .. }, None) => 0.0,
            (Reading::AgeOf { per_second }, Some(at)) => {
                let now_units = match per_second {
                    1 => now.timestamp(),
                    1_000 => now.timestamp_millis(),
                    _ => now.timestamp_micros(),
                };
                (now_units.saturating_sub(at)).max(0) as f64 / per_second.max(1) as f64
            }
        };
        g.gauge.set(shown);
    }
}

/// Keeps `gauges` current every [`SQL_GAUGE_EVERY`] until `shutdown`.
pub async fn refresh_sql_gauges(
    db: sea_orm::DatabaseConnection,
    gauges: Vec<SqlGauge>,
    shutdown: CancellationToken,
) {
    loop {
        read_sql_gauges(&db, &gauges).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SQL_GAUGE_EVERY) => {}
        }
    }
}

/// Keeps `keyholder_standing_age_seconds` (seconds since identity's standing
/// feed last confirmed this follower's picture; -1 before the first sync)
/// current every second until `shutdown`. Past the staleness bound the
/// service refuses every call, so this is the gauge to alert on.
pub async fn follow_standing_age(
    metrics: Arc<Metrics>,
    standing: Arc<crate::standing::StandingTable>,
    shutdown: CancellationToken,
) {
    let gauge = metrics.gauge(
        "keyholder_standing_age_seconds",
        "Seconds since identity's standing feed last confirmed this service's picture (-1: never)",
    );
    loop {
        gauge.set(standing.confirmed_age().map_or(-1.0, |d| d.as_secs_f64()));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// `GET /ready`: 200 while every readiness check passes and the service
/// is not stopping, else 503 with the reason. With TLS on the gRPC port,
/// Kubernetes' gRPC probes cannot connect; its HTTPS probes can reach this.
async fn ready(
    checks: Arc<Vec<Arc<dyn crate::serve::Readiness>>>,
    stopping: CancellationToken,
) -> (http::StatusCode, String) {
    if stopping.is_cancelled() {
        return (http::StatusCode::SERVICE_UNAVAILABLE, "stopping\n".into());
    }
    match crate::serve::first_failure(&checks).await {
        None => (http::StatusCode::OK, "ready\n".into()),
        Some(why) => (http::StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Serves `GET /metrics` (text exposition), `GET /ready` and `GET /live`
/// on `listener` until `shutdown`.
pub async fn serve_metrics(
    listener: TcpListener,
    tls: Option<Arc<crate::tls::ServerTls>>,
    metrics: Arc<Metrics>,
    readiness: Vec<Arc<dyn crate::serve::Readiness>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let (checks, stopping) = (Arc::new(readiness), shutdown.clone());
    let app = axum::Router::new()
        .route(
            "/ready",
            axum::routing::get(move || ready(checks.clone(), stopping.clone())),
        )
        .route("/live", axum::routing::get(|| async { "live\n" }))
        .route(
            "/metrics",
            axum::routing::get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        );
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), tls = tls.is_some(), "serving metrics");
    match tls {
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls, shutdown.clone())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_method_and_code() {
        let m = Metrics::new("broker");
        m.record(
            "/keyholder.broker.v1.BrokerService/CheckAccess",
            Code::Ok,
            0.0002,
        );
        m.record(
            "/keyholder.broker.v1.BrokerService/CheckAccess",
            Code::Ok,
            0.0003,
        );
        m.record(
            "/keyholder.broker.v1.BrokerService/CheckAccess",
            Code::Unauthenticated,
            0.0001,
        );
        let text = m.render();
        assert!(text.contains(
            "keyholder_rpc_requests_total{service=\"broker\",method=\"/keyholder.broker.v1.BrokerService/CheckAccess\",code=\"OK\"} 2"
        ), "{text}");
        assert!(text.contains("code=\"UNAUTHENTICATED\"} 1"), "{text}");
        assert!(text.contains(
            "keyholder_rpc_duration_seconds_count{service=\"broker\",method=\"/keyholder.broker.v1.BrokerService/CheckAccess\"} 3"
        ), "{text}");
    }

    #[test]
    fn gauges_show_their_value() {
        let m = Metrics::new("audit");
        let g = m.gauge("keyholder_mail_pending", "Mails waiting to be sent");
        g.set(3.0);
        assert!(
            m.render()
                .contains("keyholder_mail_pending{service=\"audit\"} 3.0"),
            "{}",
            m.render()
        );
    }
}
