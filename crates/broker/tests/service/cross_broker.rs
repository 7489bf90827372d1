//! Several brokers on one database: revocation on one ends the session on the
//! other (PostgreSQL LISTEN/NOTIFY, with the revocation-log poll as fallback
//! and the only path on SQLite), and concurrent sweeps never double-expire or
//! double-emit.

use crate::common::*;
use chrono::Duration;
use keyholder_broker::Broker;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_proto::broker::v1::broker_service_client::BrokerServiceClient;
use keyholder_testkit::{bearer, ephemeral_listener, local_channel};
use tonic::transport::Channel;

/// A second broker on the suite's database whose cache never ages out: only
/// an invalidation (NOTIFY, or the revocation-log poll) can make it re-read a
/// session.
async fn broker_with_a_cache_that_never_expires(ctx: &Ctx) -> BrokerServiceClient<Channel> {
    let mut config = ctx.suite.config.clone();
    config.broker.session_cache_ms = 24 * 3600 * 1000;
    let svc = Broker::prepare(&config, ctx.suite.clock.clone())
        .await
        .unwrap();
    let (listener, addr) = ephemeral_listener().await;
    let stop = ctx.suite.shutdown.clone();
    tokio::spawn(async move { svc.serve(listener, stop).await });
    BrokerServiceClient::new(local_channel(addr))
}

/// On PostgreSQL the revocation arrives by NOTIFY (or the poll); on SQLite
/// by the poll of the revocation log. Either way not by the cache ageing out.
#[tokio::test]
async fn revoking_on_one_broker_refuses_the_session_on_another() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let mut b = broker_with_a_cache_that_never_expires(&ctx).await;
    let (g, s) = ctx.live_session(read_only()).await;
    // Broker B has the session cached as live.
    let before = ctx
        .check(&mut b, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(before.allowed, "{}", before.reason);

    ctx.broker()
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: String::new(),
                grant_id: g.grant_id.clone(),
                reason: "enough".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap();
    // Wait (bounded) only for the notification to arrive.
    let refused = eventually(|| {
        let mut b = b.clone();
        let (backend, token) = (backend.clone(), s.access_token.clone());
        let ctx = &ctx;
        async move {
            !ctx.check(&mut b, &backend, &token, "crm.deal", "read")
                .await
                .allowed
        }
    })
    .await;
    assert!(refused, "broker B still allows a revoked session");
    let last = ctx
        .check(&mut b, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!last.allowed);
    assert!(last.reason.contains("revoked"), "{}", last.reason);
}

#[tokio::test]
async fn two_brokers_sweeping_at_once_expire_each_grant_once() {
    let ctx = Ctx::new().await;
    let other = ctx.suite.start_another_broker().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    for i in 0..3 {
        let r = ctx.request(&format!("T-{i}"), read_only()).await;
        ctx.approve(&r.access_request_id).await;
    }
    ctx.suite.clock.advance(Duration::days(8));
    let (a, b) = tokio::join!(ctx.broker.handle.sweep_once(), other.handle.sweep_once());
    let total = a.unwrap().grants_expired + b.unwrap().grants_expired;
    assert!(total <= 3);
    // Background sweepers may have taken some; in all, each grant expires once.
    assert!(
        eventually(|| async { ctx.received.of_kind(EventKind::GrantExpired).len() == 3 }).await
    );
    ctx.broker.handle.sweep_once().await.unwrap();
    other.handle.sweep_once().await.unwrap();
    assert!(
        ctx.broker.handle.undelivered_events().await.unwrap() == 0
            || eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 })
                .await
    );
    assert_eq!(ctx.received.of_kind(EventKind::GrantExpired).len(), 3);
    let ids: std::collections::HashSet<_> = ctx
        .received
        .of_kind(EventKind::GrantExpired)
        .iter()
        .map(|e| e.grant_id.clone())
        .collect();
    assert_eq!(ids.len(), 3);
}
