//! The broker's metrics port, scraped as Prometheus would: every call is
//! counted by method and status code, and the gauges follow the state of
//! support access.

use crate::common::*;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole HTTP/1.1 answer to `GET path`.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.unwrap();
    raw
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let raw = get(addr, "/metrics").await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw
}

/// The value of the one series whose line starts with `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

const SETTINGS: &str = "/keyholder.broker.v1.BrokerService/GetSupportAccessSettings";

#[tokio::test]
async fn calls_and_grants_show_on_the_metrics_port() {
    // Below the ephemeral range: no `bind(…:0)` of this suite (identity's
    // port, say) can be given it before the broker binds it.
    let addr = keyholder_testkit::smtp::reserve_addr();
    // Scraped in plaintext here (a raw HTTP/1.1 request), whatever
    // KEYHOLDER_TEST_TLS says; tests/e2e/tls.rs covers the port over TLS.
    let ctx = Ctx::new_with(|c| {
        c.broker.metrics_listen = Some(addr);
        c.tls = keyholder_kit::tls::TlsConfig::default();
    })
    .await;
    let ok = format!(
        "keyholder_rpc_requests_total{{service=\"broker\",method=\"{SETTINGS}\",code=\"OK\"}}"
    );
    let refused = format!(
        "keyholder_rpc_requests_total{{service=\"broker\",method=\"{SETTINGS}\",code=\"UNAUTHENTICATED\"}}"
    );
    let before = scrape(addr).await;
    assert_eq!(value(&before, &ok), None, "{before}");

    let req = || pb::GetSupportAccessSettingsRequest {
        tenant_id: ctx.tenant.tenant_id.clone(),
    };
    for _ in 0..3 {
        ctx.broker()
            .get_support_access_settings(bearer(req(), &ctx.tenant.admin_token))
            .await
            .unwrap();
    }
    let e = ctx
        .broker()
        .get_support_access_settings(req())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let after = scrape(addr).await;
    assert_eq!(value(&after, &ok), Some(3.0), "{after}");
    assert_eq!(value(&after, &refused), Some(1.0), "{after}");
    let latency =
        format!("keyholder_rpc_duration_seconds_count{{service=\"broker\",method=\"{SETTINGS}\"}}");
    assert_eq!(value(&after, &latency), Some(4.0), "{after}");

    // The standing feed was confirmed within the heartbeat (2 s), and the
    // gauge says so (it is -1 only before the first sync).
    let age = "keyholder_standing_age_seconds{service=\"broker\"}";
    let fresh = eventually(|| async {
        value(&scrape(addr).await, age).is_some_and(|a| (0.0..3.0).contains(&a))
    })
    .await;
    assert!(fresh, "{}", scrape(addr).await);

    // The same port answers Kubernetes' HTTP probes: ready once the
    // database answers and the standing feed is confirmed; live always.
    let ready = get(addr, "/ready").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.ends_with("ready\n"), "{ready}");
    let live = get(addr, "/live").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");

    // The gauges follow the database: one grant in force after an approval.
    let active = "keyholder_grants_active{service=\"broker\"}";
    assert_eq!(value(&after, active), Some(0.0), "{after}");
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let r = ctx.request("T-77", read_only()).await;
    ctx.approve(&r.access_request_id).await;
    let moved = eventually(|| async { value(&scrape(addr).await, active) == Some(1.0) }).await;
    assert!(moved, "{}", scrape(addr).await);
}
