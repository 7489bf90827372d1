use super::*;
use tracing_opentelemetry::OpenTelemetrySpanExt;
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
    let text =
        String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
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
