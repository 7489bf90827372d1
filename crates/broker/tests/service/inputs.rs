//! What callers send is checked before anything is written: over-long or
//! blank ids and names, huge durations and timestamps are INVALID_ARGUMENT,
//! and none of them can put an event into the outbox that audit would refuse.

use crate::common::*;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

fn huge() -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: i64::MAX,
        nanos: 0,
    })
}

#[tokio::test]
async fn oversized_or_blank_fields_are_refused_before_any_event() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let long = "t".repeat(201);
    for (tenant, words) in [
        (long.as_str(), &["tenant_id", "at most 200"][..]),
        ("   ", &["tenant_id is required"][..]),
        ("acme trading", &["tenant_id must be a UUID"][..]),
    ] {
        let e = ctx
            .broker()
            .sign_in_to_tenant(bearer(
                pb::SignInToTenantRequest {
                    request_id: String::new(),
                    tenant_id: tenant.into(),
                    credential: String::new(),
                    reason: "checking the deal pipeline settings".into(),
                },
                &ctx.agent.token,
            ))
            .await
            .unwrap_err();
        assert_status(&e, Code::InvalidArgument, words);
    }
    let e = ctx
        .broker()
        .check_access(bearer(
            pb::CheckAccessRequest {
                session_token: s.access_token.clone(),
                tenant_id: ctx.tenant.tenant_id.clone(),
                entity: "e".repeat(201),
                action: "read".into(),
                record: true,
            },
            &backend,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["entity", "at most 200"]);
    let report = |resource_id: String, detail: String, action: &str| pb::ReportActionRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        session_token: s.access_token.clone(),
        entity: "crm.deal".into(),
        action: action.into(),
        resource_id,
        detail,
    };
    for (msg, words) in [
        (
            report("r".repeat(201), String::new(), "read"),
            &["resource_id", "at most 200"][..],
        ),
        (
            report(String::new(), "d".repeat(2001), "read"),
            &["detail", "at most 2000"][..],
        ),
        (
            report(String::new(), String::new(), &"a".repeat(201)),
            &["action", "at most 200"][..],
        ),
        (
            report(String::new(), String::new(), " "),
            &["action is required"][..],
        ),
    ] {
        let e = ctx
            .broker()
            .report_action(bearer(msg, &backend))
            .await
            .unwrap_err();
        assert_status(&e, Code::InvalidArgument, words);
    }
    let mut long_ticket = ctx.request_msg(&"x".repeat(201), read_only());
    long_ticket.request_id = String::new();
    let e = ctx
        .broker()
        .create_access_request(bearer(long_ticket, &ctx.agent.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["ticket_ref", "at most 200"]);
    // Everything written so far reached audit; nothing was set aside.
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    assert!(
        ctx.broker
            .handle
            .rejected_events()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn huge_durations_and_timestamps_are_refused_not_panicked_on() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let mut create = ctx.request_msg("T-900", read_only());
    create.duration = huge();
    let e = ctx
        .broker()
        .create_access_request(bearer(create, &ctx.agent.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["duration is too long"]);

    let r = ctx.request("T-901", read_only()).await;
    let e = ctx
        .broker()
        .approve_access_request(bearer(
            pb::ApproveAccessRequestRequest {
                access_request_id: r.access_request_id.clone(),
                duration: huge(),
                ..Default::default()
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["duration is too long"]);

    for (change, why) in [
        (
            pb::UpdateSupportAccessSettingsRequest {
                request_ttl: huge(),
                ..Default::default()
            },
            "request_ttl is too long: at most 90 days",
        ),
        (
            pb::UpdateSupportAccessSettingsRequest {
                default_grant_duration: huge(),
                ..Default::default()
            },
            "default_grant_duration is too long: at most 90 days",
        ),
        (
            pb::UpdateSupportAccessSettingsRequest {
                max_grant_duration: huge(),
                ..Default::default()
            },
            "max_grant_duration is too long: at most 90 days",
        ),
        (
            pb::UpdateSupportAccessSettingsRequest {
                max_grant_duration: Some(prost_types::Duration {
                    seconds: 86_400,
                    nanos: 1_000_000_000,
                }),
                ..Default::default()
            },
            "max_grant_duration has nanos outside 0..=999999999",
        ),
    ] {
        let e = ctx
            .broker()
            .update_support_access_settings(bearer(
                pb::UpdateSupportAccessSettingsRequest {
                    tenant_id: ctx.tenant.tenant_id.clone(),
                    ..change
                },
                &ctx.tenant.admin_token,
            ))
            .await
            .unwrap_err();
        assert_status(&e, Code::InvalidArgument, &[why]);
    }

    let g = ctx.approve(&r.access_request_id).await;
    let extend = |seconds: i64| pb::ExtendGrantRequest {
        request_id: String::new(),
        grant_id: g.grant_id.clone(),
        expire_time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
    };
    for seconds in [i64::MAX, i64::MIN] {
        let e = ctx
            .broker()
            .extend_grant(bearer(extend(seconds), &ctx.tenant.admin_token))
            .await
            .unwrap_err();
        assert_status(&e, Code::InvalidArgument, &["expire_time is out of range"]);
    }
    let e = ctx
        .broker()
        .extend_grant(bearer(
            pb::ExtendGrantRequest {
                expire_time: None,
                ..extend(0)
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["expire_time is required"]);
}
