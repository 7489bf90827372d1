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
