//! One telemetry set-up for every service: logs (text or JSON) through
//! `tracing`, optional OTLP trace export, and W3C trace context carried in
//! gRPC metadata so one trace spans identity, broker and audit.

use crate::config::{Config, LogFormat};
use crate::tls::TlsConfig;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithTonicConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanProcessor};
use std::sync::{Arc, OnceLock};
use tracing::dispatcher::WeakDispatch;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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

impl TelemetryGuard {
    /// Exports every finished span now (tests; a clean stop drops the guard).
    pub fn flush(&self) {
        if let Some(p) = &self.provider
            && let Err(e) = p.force_flush()
        {
            eprintln!("trace export flush failed: {e}");
        }
    }
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

/// The services that may share one process (`keyholder up`).
const SERVICES: [&str; 3] = ["identity", "broker", "audit"];

/// Where spans go, and how to reach it: an OTLP/gRPC endpoint on the same
/// channels as the services' own calls (`https://` verified with the
/// `[tls]` CA file, presenting the certificate when asked; `http://` only
/// on loopback unless allowed), minus their client spans.
#[derive(Clone, Copy)]
struct Collector<'a> {
    endpoint: &'a str,
    tls: &'a TlsConfig,
}

fn exporter(to: Collector<'_>) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let channel = crate::client::plain_channel(to.endpoint, to.tls)
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_channel(channel)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))
}

fn batch(to: Collector<'_>, service_name: String) -> Result<BatchSpanProcessor, TelemetryError> {
    let mut p = BatchSpanProcessor::builder(exporter(to)?).build();
    p.set_resource(
        &opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name)
            .build(),
    );
    Ok(p)
}

/// The tracer provider: spans exported to `endpoint` when one is set, ids
/// made either way (so log lines carry the trace of the call they belong to).
fn provider(
    endpoint: Option<&str>,
    tls: &TlsConfig,
    service: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let builder = SdkTracerProvider::builder();
    let Some(endpoint) = endpoint else {
        return Ok(builder.build());
    };
    let endpoint = Collector { endpoint, tls };
    let own = format!("keyholder-{service}");
    if service != "suite" {
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(own)
            .build();
        return Ok(builder
            .with_batch_exporter(exporter(endpoint)?)
            .with_resource(resource)
            .build());
    }
    let mut routes = Vec::with_capacity(SERVICES.len());
    for s in SERVICES {
        routes.push((s, batch(endpoint, format!("keyholder-{s}"))?));
    }
    Ok(builder
        .with_span_processor(ByService {
            routes,
            fallback: batch(endpoint, own)?,
            owners: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
        .build())
}

/// The attribute naming the Keyholder service a span belongs to.
const SERVICE_KEY: &str = "keyholder.service";

/// Under `keyholder up` three services share one process, but a resource
/// (and so `service.name`) belongs to an exporter, not to a span. This
/// processor keeps one batch exporter per service, each with its own
/// `service.name`, and sends each span to its service's: a span names its
/// service (`keyholder.service`, set on server and delivery spans) or
/// inherits its local parent's when it starts. A span of no service (start-up
/// work) goes to `keyholder-suite`.
#[derive(Debug)]
struct ByService {
    routes: Vec<(&'static str, BatchSpanProcessor)>,
    fallback: BatchSpanProcessor,
    /// Open spans' services, for their children; removed when they end.
    owners: std::sync::Mutex<std::collections::HashMap<opentelemetry::trace::SpanId, &'static str>>,
}

impl ByService {
    fn route(&self, owner: &str) -> &BatchSpanProcessor {
        self.routes
            .iter()
            .find(|(s, _)| *s == owner)
            .map_or(&self.fallback, |(_, p)| p)
    }

    /// Applies `f` to every exporter (all of them, even after a failure),
    /// answering the first failure.
    fn each(&self, f: impl Fn(&BatchSpanProcessor) -> OTelSdkResult) -> OTelSdkResult {
        let mut outcome = Ok(());
        for p in self.routes.iter().map(|(_, p)| p).chain([&self.fallback]) {
            let r = f(p);
            if outcome.is_ok() {
                outcome = r;
            }
        }
        outcome
    }
}

impl SpanProcessor for ByService {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        use opentelemetry::trace::{Span as _, TraceContextExt};
        let named = span.exported_data().and_then(|d| {
            d.attributes
                .iter()
                .find(|kv| kv.key.as_str() == SERVICE_KEY)
                .and_then(|kv| {
                    let v = kv.value.as_str();
                    SERVICES.into_iter().find(|s| *s == v)
                })
        });
        let Ok(mut owners) = self.owners.lock() else {
            return;
        };
        let parent = cx.span().span_context().span_id();
        let owner = named.or_else(|| owners.get(&parent).copied());
        if let Some(owner) = owner {
            owners.insert(span.span_context().span_id(), owner);
            if named.is_none() {
                span.set_attribute(opentelemetry::KeyValue::new(SERVICE_KEY, owner));
            }
        }
    }

    fn on_end(&self, span: SpanData) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.remove(&span.span_context.span_id());
        }
        let owner = span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == SERVICE_KEY)
            .map(|kv| kv.value.as_str().into_owned())
            .unwrap_or_default();
        self.route(&owner).on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.each(|p| p.force_flush())
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.each(|p| p.shutdown_with_timeout(timeout))
    }
}

/// JSON log lines with the OpenTelemetry `trace_id` and `span_id` of the
/// span they were written in, first, so a line can be found from a trace and
/// a trace from a line. It reads the span's context through the subscriber
/// it belongs to (set once that exists): inside a log call the current
/// dispatcher is not reachable.
struct WithTraceIds<F> {
    inner: F,
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use opentelemetry::trace::TraceContextExt;
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let span = event
            .parent()
            .cloned()
            .or_else(|| ctx.lookup_current().map(|s| s.id()));
        let ids = span.and_then(|id| {
            let dispatch = self.dispatch.get()?.upgrade()?;
            let cx = tracing_opentelemetry::get_otel_context(&id, &dispatch)?;
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        });
        match (ids, line.strip_prefix('{')) {
            (Some((trace, span)), Some(rest)) => {
                write!(
                    writer,
                    "{{\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",{rest}"
                )
            }
            _ => writer.write_str(&line),
        }
    }
}

/// Panics go through the log (one JSON line under `keyholder::panic`), not
/// as plain text beside it; the call that panicked is still answered
/// INTERNAL by `catch_panic`.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(
            target: "keyholder::panic",
            payload = message,
            location = %location,
            thread = std::thread::current().name().unwrap_or(""),
            "panicked"
        );
    }));
}

/// Installs the global subscriber. `service` is `identity`, `broker`,
/// `audit`, or `suite` for all three in one process. Safe to call more than
/// once (tests): later calls keep the first subscriber.
pub fn init(config: &Config, service: &str) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_new(&config.log).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let slot = Arc::new(OnceLock::new());
    let fmt = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .map_event_format(|inner| WithTraceIds {
                inner,
                dispatch: slot.clone(),
            })
            .boxed(),
    };
    let provider = provider(config.otlp_endpoint.as_deref(), &config.tls, service)?;
    // The log filter is the log's alone: `KEYHOLDER_LOG=warn` quiets the
    // log but must not drop the (INFO) spans of every call from the trace.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("keyholder"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .with(otel),
    );
    let _ = slot.set(dispatch.downgrade());
    let result = dispatch.try_init();
    match result {
        Ok(()) if config.log_format == LogFormat::Json => log_panics(),
        Ok(()) => {}
        Err(_) => tracing::debug!("telemetry already initialised"),
    }
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
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

    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_starts_with_its_calls_trace_and_span_id() {
        use opentelemetry::trace::TraceContextExt;
        let out = Capture::default();
        let writer = out.clone();
        let provider = SdkTracerProvider::builder().build();
        let slot = Arc::new(OnceLock::new());
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_current_span(true)
                        .map_event_format(|inner| WithTraceIds {
                            inner,
                            dispatch: slot.clone(),
                        })
                        .with_writer(move || writer.clone()),
                )
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test"))),
        );
        let _ = slot.set(dispatch.downgrade());
        let expected = tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("outside any call");
            let span = tracing::info_span!("call");
            let _in = span.enter();
            tracing::info!(n = 1, "inside");
            let sc = span.context().span().span_context().clone();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        });
        let text = String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0].get("trace_id"), None, "{text}");
        assert_eq!(lines[1]["trace_id"], expected.0.as_str(), "{text}");
        assert_eq!(lines[1]["span_id"], expected.1.as_str(), "{text}");
        assert_eq!(lines[1]["fields"]["message"], "inside", "{text}");
        assert_eq!(lines[1]["fields"]["n"], 1, "{text}");
        assert_eq!(expected.0.len(), 32);
    }
}
