//! Every bad input gets a clear INVALID_ARGUMENT naming the field: control
//! characters in a reason, unknown enum numbers, missing or malformed ids,
//! and long hostile values that are quoted at most by a short prefix. A
//! retried ReportAction with any request id is recorded once.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_reason_with_nul_is_refused() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let mut msg = ctx.request_msg("T-1", read_only());
    msg.reason = "customer\0 reports a broken pipeline".into();
    let e = ctx
        .broker()
        .create_access_request(bearer(msg, &ctx.agent.token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "reason must not contain control characters");
    let bad = e.get_details_bad_request().expect("a BadRequest detail");
    assert_eq!(bad.field_violations[0].field, "reason");
}

#[tokio::test]
async fn unknown_state_filters_are_refused() {
    let ctx = Ctx::new().await;
    let e = ctx
        .broker()
        .list_access_requests(bearer(
            pb::ListAccessRequestsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
                state: 42,
                ..Default::default()
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "state 42 is not a known value");
    let e = ctx
        .broker()
        .list_grants(bearer(
            pb::ListGrantsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
                state: 42,
                ..Default::default()
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "state 42 is not a known value");
}

#[tokio::test]
async fn ids_must_be_present_and_uuids() {
    let ctx = Ctx::new().await;
    let e = ctx
        .broker()
        .get_access_request(bearer(
            pb::GetAccessRequestRequest {
                access_request_id: String::new(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "access_request_id is required");
    let bad = e.get_details_bad_request().expect("a BadRequest detail");
    assert_eq!(bad.field_violations[0].field, "access_request_id");

    let mut msg = ctx.request_msg("T-1", read_only());
    msg.tenant_id = "not-a-uuid".into();
    let e = ctx
        .broker()
        .create_access_request(bearer(msg, &ctx.agent.token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "tenant_id must be a UUID, not \"not-a-uuid\"");
}

#[tokio::test]
async fn hostile_values_are_not_echoed() {
    let ctx = Ctx::new().await;
    let sql = format!("x' OR '1'='1'; DROP TABLE grants; --{}", "A".repeat(5000));
    for id in [sql.as_str(), &sql[..150]] {
        let e = ctx
            .broker()
            .get_grant(bearer(
                pb::GetGrantRequest {
                    grant_id: id.into(),
                },
                &ctx.tenant.admin_token,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("grant_id "), "{}", e.message());
        assert!(e.message().len() < 100, "{}", e.message());
        assert!(!e.message().contains("AAAAAAAAAAAAAAA"), "{}", e.message());
    }
}

#[tokio::test]
async fn a_report_retried_with_any_request_id_is_recorded_once() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let report = || pb::ReportActionRequest {
        request_id: "crm-retry-7 (not a uuid)".into(),
        session_token: s.access_token.clone(),
        entity: "crm.deal".into(),
        action: "read".into(),
        resource_id: "deal-7".into(),
        detail: "looked at the deal".into(),
    };
    let first = ctx
        .broker()
        .report_action(bearer(report(), &backend))
        .await
        .unwrap()
        .into_inner();
    let again = ctx
        .broker()
        .report_action(bearer(report(), &backend))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.event_id, again.event_id);
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    let actions = ctx.received.of_kind(EventKind::Action);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].event_id, first.event_id);
}
