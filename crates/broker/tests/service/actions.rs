//! ReportAction: only while the session lives, once per request id.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

fn report(session_token: &str, request_id: &str) -> pb::ReportActionRequest {
    pb::ReportActionRequest {
        request_id: request_id.into(),
        session_token: session_token.into(),
        entity: "crm.deal".into(),
        action: "read".into(),
        resource_id: "deal-7".into(),
        detail: "looked at the deal".into(),
    }
}

#[tokio::test]
async fn actions_are_refused_after_revocation() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (g, s) = ctx.live_session(read_only()).await;
    ctx.broker()
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: String::new(),
                grant_id: g.grant_id.clone(),
                reason: "the ticket is done".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let e = ctx
        .broker()
        .report_action(bearer(report(&s.access_token, &id), &backend))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::FailedPrecondition,
        &["the support session has ended (revoked)"],
    );
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    assert!(ctx.received.of_kind(EventKind::Action).is_empty());
}

#[tokio::test]
async fn a_repeated_report_is_recorded_once_even_when_concurrent() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let id = uuid::Uuid::new_v4().to_string();
    let calls = (0..8).map(|_| {
        let mut b = ctx.broker();
        let msg = report(&s.access_token, &id);
        let backend = backend.clone();
        async move { b.report_action(bearer(msg, &backend)).await }
    });
    let mut handles = Vec::new();
    for c in calls {
        handles.push(tokio::spawn(c));
    }
    let mut ids = Vec::new();
    for h in handles {
        let r = h.await.unwrap().expect("report accepted");
        ids.push(r.into_inner().event_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one event id for every retry: {ids:?}");
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    let actions = ctx.received.of_kind(EventKind::Action);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].event_id, ids[0]);
    assert!(actions[0].allowed);
    // An action outside the grant is recorded as not allowed.
    let mut change = report(&s.access_token, &uuid::Uuid::new_v4().to_string());
    change.action = "change".into();
    ctx.broker()
        .report_action(bearer(change, &backend))
        .await
        .unwrap();
    assert!(eventually(|| async { ctx.received.of_kind(EventKind::Action).len() == 2 }).await);
    assert!(
        ctx.received
            .of_kind(EventKind::Action)
            .iter()
            .any(|e| e.action == "change" && !e.allowed)
    );
}

/// Concurrent reports share transactions (group commit): each distinct
/// request is recorded exactly once, retries among them too, and every
/// caller hears back only after its row is written.
#[tokio::test]
async fn concurrent_reports_are_each_recorded_once() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let keys: Vec<String> = (0..40).map(|i| format!("report-{i}")).collect();
    // 40 distinct requests, the first 20 of them sent twice.
    let sends: Vec<&String> = keys.iter().chain(keys.iter().take(20)).collect();
    let mut handles = Vec::new();
    for key in sends {
        let mut b = ctx.broker();
        let msg = report(&s.access_token, key);
        let backend = backend.clone();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            let r = b.report_action(bearer(msg, &backend)).await;
            (key, r.map(|r| r.into_inner().event_id))
        }));
    }
    let mut by_key = std::collections::HashMap::new();
    for h in handles {
        let (key, r) = h.await.unwrap();
        let id = r.expect("report accepted");
        let first = by_key.entry(key.clone()).or_insert_with(|| id.clone());
        assert_eq!(*first, id, "a retry of {key} got another event id");
    }
    assert_eq!(by_key.len(), 40);
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    let mut got: Vec<String> = ctx
        .received
        .of_kind(EventKind::Action)
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    got.sort();
    let mut want: Vec<String> = by_key.into_values().collect();
    want.sort();
    assert_eq!(got, want);
}
