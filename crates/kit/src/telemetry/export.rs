//! Where spans go: OTLP export over the services' own channels, one
//! exporter per service when three share a process.

use super::TelemetryError;
use crate::tls::TlsConfig;
use opentelemetry_otlp::WithTonicConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanProcessor};

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
pub(super) fn provider(
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
