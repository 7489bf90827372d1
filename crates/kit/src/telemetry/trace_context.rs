//! gRPC spans by the OpenTelemetry RPC conventions, and W3C trace context
//! carried in headers, gRPC metadata and stored outbox rows.

use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

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
