//! Several brokers on one database: revocation on one ends the session on the
//! other (PostgreSQL LISTEN/NOTIFY, with the revocation-log poll as fallback),
//! and concurrent sweeps never double-expire or double-emit.

use crate::common::*;
use chrono::Duration;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;

#[tokio::test]
async fn revoking_on_one_broker_refuses_the_session_on_another() {
    if !keyholder_testkit::db::on_postgres() {
        eprintln!("skipped: set KEYHOLDER_TEST_DATABASE_URL to run the two-broker PostgreSQL test");
        return;
    }
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let other = ctx.suite.start_another_broker().await;
    let (g, s) = ctx.live_session(read_only()).await;
    let mut b = other.client();
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
    let mut last = None;
    for _ in 0..100 {
        let r = ctx
            .check(&mut b, &backend, &s.access_token, "crm.deal", "read")
            .await;
        let allowed = r.allowed;
        last = Some(r);
        if !allowed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let last = last.unwrap();
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
