//! One trace across the services: an agent's sign-in at the broker, the
//! broker's calls to identity and its event delivered to audit all carry one
//! trace id, exported over OTLP (over mutual TLS) to an in-process receiver,
//! each span under its own service's `service.name` although all three run
//! in one process (as under `keyholder up`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../e2e/flows.rs"]
mod flows;

use flows::World;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::bearer;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A span as received, with the `service.name` of its resource.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attr(&self, key: &str) -> Option<any_value::Value> {
        self.span
            .attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone())
            .and_then(|v: AnyValue| v.value)
    }

    fn str_attr(&self, key: &str) -> Option<String> {
        match self.attr(key) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }
}

/// An OTLP trace collector that keeps what it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.clone())
                .and_then(|v| match v.value {
                    Some(any_value::Value::StringValue(s)) => Some(s),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    kept.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    /// A collector that takes OTLP over mutual TLS only (the test CA's
    /// certificate required), at the returned `https://` endpoint.
    async fn start(tls: &keyholder_kit::tls::TlsConfig) -> (Self, String) {
        use tokio_stream::StreamExt;
        let receiver = Self::default();
        let (listener, addr) = keyholder_testkit::ephemeral_listener().await;
        let accepted = keyholder_kit::tls::ServerTls::for_grpc(tls)
            .expect("test certificates load")
            .expect("a certificate is configured")
            .accept(listener, keyholder_kit::CancellationToken::new());
        let incoming = tokio_stream::wrappers::ReceiverStream::new(accepted)
            .map(|(conn, _)| Ok::<_, std::io::Error>(conn));
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(incoming);
        tokio::spawn(server);
        (receiver, format!("https://{addr}"))
    }

    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

async fn outbox_drained(w: &World) {
    use sea_orm::{ConnectionTrait, Statement};
    let url = w
        .suite
        .config
        .broker
        .database_url
        .clone()
        .expect("broker db");
    let db = keyholder_kit::db::connect(&url).await.expect("broker db");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM broker_outbox WHERE delivered_at_us IS NULL AND dead_at_us IS NULL",
            ))
            .await
            .expect("count the outbox")
            .expect("one row");
        if row.try_get_by_index::<i64>(0).expect("a count") == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "broker's outbox never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn named<'a>(spans: &'a [Received], name: &str, trace_id: &[u8]) -> Vec<&'a Received> {
    spans
        .iter()
        .filter(|s| s.span.name == name && s.span.trace_id == trace_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_sign_in_is_one_trace_across_identity_broker_and_audit() {
    // OTLP export over mutual TLS: the exporter verifies the collector
    // with the CA file and presents the certificate it asks for.
    let tls = keyholder_testkit::tls::shared_pki().config(true);
    let (receiver, endpoint) = Receiver::start(&tls).await;
    let config = keyholder_kit::config::Config {
        otlp_endpoint: Some(endpoint),
        tls,
        log: std::env::var("TRACE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        ..keyholder_kit::config::Config::default()
    };
    // First in this process, so this subscriber (not the testkit's) is the one.
    let telemetry = keyholder_kit::telemetry::init(&config, "suite").expect("telemetry");

    let w = World::start("Initech", identity::Locale::En).await;
    w.set_mode(broker::SupportAccessMode::Standing).await;
    // A batch joins the trace of its first event (and links the others'):
    // let the mode change go first, so the sign-in's event leads its batch.
    outbox_drained(&w).await;
    // A broker that has not seen the tenant yet asks identity about it, as
    // the first sign-in after a broker's start does.
    let fresh = w.suite.start_another_broker().await;
    fresh
        .client()
        .sign_in_to_tenant(bearer(
            broker::SignInToTenantRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: w.tenant.tenant_id.clone(),
                credential: String::new(),
                reason: "checking the mail-integration settings".into(),
            },
            &w.agent.token,
        ))
        .await
        .expect("standing sign-in");

    let sign_in_name = "keyholder.broker.v1.BrokerService/SignInToTenant";
    let ingest_name = "keyholder.audit.v1.AuditService/IngestEvents";
    let contacts_name = "keyholder.identity.v1.IdentityService/GetTenantContacts";
    let deadline = Instant::now() + Duration::from_secs(20);
    let (spans, sign_in) = loop {
        telemetry.flush();
        let spans = receiver.spans();
        let sign_in = spans.iter().find(|s| s.span.name == sign_in_name).cloned();
        // Each call's server span and the caller's client span end
        // separately (the client's when it has read the answer).
        let both_ends = |name: &str, trace: &[u8]| {
            let kinds: Vec<i32> = named(&spans, name, trace)
                .iter()
                .map(|s| s.span.kind)
                .collect();
            kinds.contains(&(SpanKind::Server as i32)) && kinds.contains(&(SpanKind::Client as i32))
        };
        if let Some(si) = &sign_in
            && both_ends(ingest_name, &si.span.trace_id)
            && both_ends(contacts_name, &si.span.trace_id)
        {
            break (spans, si.clone());
        }
        assert!(
            Instant::now() < deadline,
            "no sign-in trace reaching audit; spans: {:?}",
            spans.iter().map(|s| &s.span.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let trace = sign_in.span.trace_id.clone();

    // The broker's server span, by the RPC conventions.
    assert_eq!(sign_in.service, "keyholder-broker");
    assert_eq!(sign_in.span.kind, SpanKind::Server as i32);
    assert_eq!(sign_in.str_attr("rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        sign_in.str_attr("rpc.service").as_deref(),
        Some("keyholder.broker.v1.BrokerService")
    );
    assert_eq!(
        sign_in.str_attr("rpc.method").as_deref(),
        Some("SignInToTenant")
    );
    assert_eq!(
        sign_in.attr("rpc.grpc.status_code"),
        Some(any_value::Value::IntValue(0))
    );
    assert!(
        sign_in.span.parent_span_id.is_empty(),
        "the sign-in is the root"
    );

    // Identity, asked about the tenant by the broker: its server span is
    // the child of the broker's client span, itself in the sign-in.
    let at_identity = named(&spans, contacts_name, &trace);
    let served = at_identity
        .iter()
        .find(|s| s.span.kind == SpanKind::Server as i32)
        .expect("identity's server span in the sign-in's trace");
    assert_eq!(served.service, "keyholder-identity");
    assert_eq!(
        served.attr("rpc.grpc.status_code"),
        Some(any_value::Value::IntValue(0))
    );
    let called = at_identity
        .iter()
        .find(|s| s.span.kind == SpanKind::Client as i32)
        .expect("the broker's client span");
    assert_eq!(called.service, "keyholder-broker");
    assert_eq!(served.span.parent_span_id, called.span.span_id);

    // Audit, sent the sign-in event from the broker's outbox.
    let ingested = named(&spans, ingest_name, &trace);
    let served = ingested
        .iter()
        .find(|s| s.span.kind == SpanKind::Server as i32)
        .expect("audit's server span in the sign-in's trace");
    assert_eq!(served.service, "keyholder-audit");
    assert_eq!(
        served.attr("rpc.grpc.status_code"),
        Some(any_value::Value::IntValue(0))
    );
    let sent = ingested
        .iter()
        .find(|s| s.span.kind == SpanKind::Client as i32)
        .expect("the broker's client span to audit");
    assert_eq!(sent.service, "keyholder-broker");
    assert_eq!(served.span.parent_span_id, sent.span.span_id);

    // Every span of the trace is one of the three services'.
    let mut services: Vec<&str> = spans
        .iter()
        .filter(|s| s.span.trace_id == trace)
        .map(|s| s.service.as_str())
        .collect();
    services.sort_unstable();
    services.dedup();
    assert_eq!(
        services,
        ["keyholder-audit", "keyholder-broker", "keyholder-identity"]
    );
}
