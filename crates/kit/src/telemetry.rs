//! One telemetry set-up for every service: logs (text or JSON) through
//! `tracing`, optional OTLP trace export, and W3C trace context carried in
//! gRPC metadata so one trace spans identity, broker and audit.

use crate::config::{Config, LogFormat};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The `log` filter does not parse.
    #[error("invalid log filter: {0}")]
    Filter(String),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// Flushes pending spans when dropped; keep it alive for the process's life.
#[must_use = "dropping the guard flushes and stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("trace export shutdown failed: {e}");
        }
    }
}

/// Installs the global subscriber. Safe to call more than once (tests): later
/// calls keep the first subscriber.
pub fn init(config: &Config, service: &str) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_new(&config.log).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let fmt = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .boxed(),
    };
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(format!("keyholder-{service}"))
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        None => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("keyholder")));
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    if result.is_err() {
        tracing::debug!("telemetry already initialised");
    }
    Ok(TelemetryGuard { provider })
}

/// Installs a quiet subscriber for tests (`KEYHOLDER_LOG` or `warn`).
pub fn init_for_tests() {
    let filter =
        EnvFilter::try_from_env("KEYHOLDER_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// `/pkg.Service/Method` split into `("pkg.Service", "Method")`; anything
/// else (a probe of a bad path) is all service and no method.
pub fn rpc_parts(path: &str) -> (&str, &str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    trimmed.split_once('/').unwrap_or((trimmed, ""))
}

/// The Keyholder service a gRPC service name belongs to:
/// `keyholder.broker.v1.BrokerService` → `broker`; empty for any other.
pub fn owner_of(grpc_service: &str) -> &str {
    let mut parts = grpc_service.split('.');
    match (parts.next(), parts.next()) {
        (Some("keyholder"), Some(owner)) => owner,
        _ => "",
    }
}

/// The span of one incoming gRPC call served by `service` (`identity`,
/// `broker`, `audit`), named and attributed by the OpenTelemetry RPC
/// conventions, a child of the caller's trace when the request carries
/// `traceparent`. Its status is filled in by [`record_status`].
pub fn grpc_span(service: &'static str, req: &http::Request<()>) -> tracing::Span {
    let path = req.uri().path();
    let (rpc_service, rpc_method) = rpc_parts(path);
    let span = tracing::info_span!(
        "grpc",
        otel.name = path.strip_prefix('/').unwrap_or(path),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        rpc.grpc.status_code = tracing::field::Empty,
        keyholder.service = service,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = %e, "no trace parent set");
    }
    span
}

/// Records a call's final gRPC status on its span. A server marks the span
/// as an error only for the codes that mean it failed (the conventions'
/// list); a client marks every code but OK.
pub fn record_status(span: &tracing::Span, code: tonic::Code, server: bool) {
    span.record("rpc.grpc.status_code", code as i64);
    use tonic::Code::*;
    let failed = match code {
        Ok => false,
        Unknown | DeadlineExceeded | Unimplemented | Internal | Unavailable | DataLoss => true,
        _ => !server,
    };
    if failed {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one outgoing gRPC call to `path`, a child of the current span.
pub fn client_span(path: &str) -> tracing::Span {
    let (rpc_service, rpc_method) = rpc_parts(path);
    tracing::info_span!(
        "grpc client",
        otel.name = path.strip_prefix('/').unwrap_or(path),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        rpc.grpc.status_code = tracing::field::Empty,
    )
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Writes `span`'s trace context (`traceparent`, `tracestate`) into
/// outgoing headers.
pub fn inject_span(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// The current span's `traceparent`, to store beside work done later (an
/// outbox row); `None` outside a sampled trace.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove("traceparent")
}

/// Makes `span` a child of the stored `traceparent` (see
/// [`current_traceparent`]); a missing or unreadable one leaves it a root.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else { return };
    let carrier = std::collections::HashMap::from([("traceparent".to_string(), tp.to_string())]);
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = %e, "no trace parent set");
    }
}

/// Links `span` to the stored `traceparent` of other work it carries (the
/// other events of one outbox batch).
pub fn link_trace(span: &tracing::Span, traceparent: &str) {
    let carrier =
        std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    use opentelemetry::trace::TraceContextExt;
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        span.add_link(sc);
    }
}

/// The span of one outbox batch that `service` sends to audit: a child of
/// the call that wrote the batch's first traced event (so audit's ingest
/// joins that trace), linked to the calls behind the others.
pub fn delivery_span<'a>(
    service: &'static str,
    traceparents: impl IntoIterator<Item = Option<&'a str>>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "deliver events",
        otel.name = "deliver events",
        keyholder.service = service,
    );
    let mut traced = traceparents.into_iter().flatten();
    continue_trace(&span, traced.next());
    for tp in traced {
        link_trace(&span, tp);
    }
    span
}

/// Writes the current span's trace context into outgoing metadata.
pub fn inject_context(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut MetadataInjector(metadata))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_splits_into_service_and_method() {
        assert_eq!(
            rpc_parts("/keyholder.broker.v1.BrokerService/SignInToTenant"),
            ("keyholder.broker.v1.BrokerService", "SignInToTenant")
        );
        assert_eq!(rpc_parts("/nonsense"), ("nonsense", ""));
        assert_eq!(
            owner_of("keyholder.identity.v1.StandingService"),
            "identity"
        );
        assert_eq!(owner_of("grpc.health.v1.Health"), "");
    }
}
