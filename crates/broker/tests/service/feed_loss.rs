//! A broker that has lost identity's standing feed keeps serving on its last
//! confirmed picture for the configured bound, then refuses every call
//! (fails closed) and reports NOT_SERVING; when identity is back it resumes.

use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::{Suite, bearer, local_channel};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn health(addr: SocketAddr) -> i32 {
    HealthClient::new(local_channel(addr))
        .check(HealthCheckRequest {
            service: "keyholder.broker.v1.BrokerService".into(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

async fn settings(s: &Suite, tenant: &str, token: &str) -> Code {
    match s
        .broker()
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: tenant.to_string(),
            },
            token,
        ))
        .await
    {
        Ok(_) => Code::Ok,
        Err(e) => e.code(),
    }
}

async fn wait_for<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_broker_without_the_standing_feed_fails_closed_and_recovers() {
    let mut s = Suite::new().await;
    s.config.broker.standing_max_staleness_secs = 2;
    let (addr, stop) = s.start_identity_stoppable(None).await;
    let broker = s.start_broker().await;
    let t = s.create_tenant("Acme Trading", 5).await;
    assert_eq!(settings(&s, &t.tenant_id, &t.admin_token).await, Code::Ok);
    wait_for("SERVING", 5, || async {
        health(broker.addr).await == ServingStatus::Serving as i32
    })
    .await;

    // Identity goes away: within the bound the broker still answers…
    stop.cancel();
    assert_eq!(settings(&s, &t.tenant_id, &t.admin_token).await, Code::Ok);
    // …then says it is not ready and refuses every call.
    wait_for("NOT_SERVING", 10, || async {
        health(broker.addr).await == ServingStatus::NotServing as i32
    })
    .await;
    let e = s
        .broker()
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: t.tenant_id.clone(),
            },
            &t.admin_token,
        ))
        .await
        .unwrap_err();
    assert!(e.message().contains("standing feed"), "{}", e.message());

    // Identity is back on the same address: the broker follows again.
    let (_, _again) = s.start_identity_stoppable(Some(addr)).await;
    wait_for("recovery", 10, || async {
        settings(&s, &t.tenant_id, &t.admin_token).await == Code::Ok
    })
    .await;
    wait_for("SERVING again", 5, || async {
        health(broker.addr).await == ServingStatus::Serving as i32
    })
    .await;
}
