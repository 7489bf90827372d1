//! One telemetry set-up for every service: logs (text or JSON) through
//! `tracing`, optional OTLP trace export, and W3C trace context carried in
//! gRPC metadata so one trace spans identity, broker and audit.

mod export;
mod json;
#[cfg(test)]
mod tests;
mod trace_context;

pub use trace_context::{
    client_span, continue_trace, current_traceparent, delivery_span, grpc_span, inject_context,
    inject_span, link_trace, owner_of, record_status, rpc_parts,
};

use crate::config::{Config, LogFormat};
use export::provider;
use json::WithTraceIds;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::{Arc, OnceLock};
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
