//! Integrators are administrators minus the admin-only powers: none of
//! support access is theirs to change, decide, extend or revoke.

use crate::common::*;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn integrators_hold_none_of_the_support_access_powers() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    ctx.suite
        .register_partner("Integra", &["integra.example"])
        .await;
    let integ = ctx
        .suite
        .invite_integrator(&ctx.tenant, "ivan@integra.example")
        .await;
    let mut broker = ctx.broker();

    let e = broker
        .update_support_access_settings(bearer(
            pb::UpdateSupportAccessSettingsRequest {
                request_id: rid(),
                tenant_id: ctx.tenant.tenant_id.clone(),
                mode: Some(pb::SupportAccessMode::Standing as i32),
                ..Default::default()
            },
            &integ.token,
        ))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::PermissionDenied,
        &["integrators may not change support-access settings"],
    );

    let req = ctx.request("T-9", read_only()).await;
    let e = broker
        .approve_access_request(bearer(
            pb::ApproveAccessRequestRequest {
                request_id: rid(),
                access_request_id: req.access_request_id.clone(),
                ..Default::default()
            },
            &integ.token,
        ))
        .await
        .unwrap_err();
    let decide = "integrators may not approve or deny support-access requests";
    assert_status(&e, Code::PermissionDenied, &[decide]);
    let e = broker
        .deny_access_request(bearer(
            pb::DenyAccessRequestRequest {
                request_id: rid(),
                access_request_id: req.access_request_id.clone(),
                note: "no".into(),
            },
            &integ.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &[decide]);

    // Still pending: the employee administrator decides.
    let g = ctx.approve(&req.access_request_id).await;
    let manage = "integrators may not extend or revoke support-access grants";
    let e = broker
        .extend_grant(bearer(
            pb::ExtendGrantRequest {
                request_id: rid(),
                grant_id: g.grant_id.clone(),
                expire_time: g.expire_time,
            },
            &integ.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &[manage]);
    let e = broker
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: rid(),
                grant_id: g.grant_id.clone(),
                reason: "done".into(),
            },
            &integ.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &[manage]);
    broker
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: rid(),
                grant_id: g.grant_id.clone(),
                reason: "done".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap();
}
