//! The whole lifecycle through gRPC: from "no access" to a live session and
//! back to "refused", the tenant's admin deciding every step.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn agent_goes_from_no_access_to_a_session_and_back_to_refused() {
    let ctx = Ctx::new().await;
    let mut broker = ctx.broker();
    let backend = ctx.backend_token().await;

    // Closed by default: asking is refused with a plain instruction.
    let err = broker
        .create_access_request(bearer(
            ctx.request_msg("T-1", rights(&["crm.deal:read"])),
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::FailedPrecondition,
        &["Acme Trading", "closed", "ask the customer's administrator"],
    );

    // The admin opens access on request.
    let settings = ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    assert_eq!(settings.mode, pb::SupportAccessMode::OnRequest as i32);
    assert_eq!(settings.default_grant_duration.unwrap().seconds, 7 * 86400);

    // The agent asks for read and change on deals.
    let req = ctx
        .request("T-1", rights(&["crm.deal:read", "crm.deal:change"]))
        .await;
    assert_eq!(req.state, pb::AccessRequestState::Pending as i32);
    assert_eq!(req.agent_id, ctx.agent.agent_id);
    let listed = broker
        .list_access_requests(bearer(
            pb::ListAccessRequestsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
                state: pb::AccessRequestState::Pending as i32,
                ..Default::default()
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.access_requests.len(), 1);

    // The admin approves, narrowing to read and shortening to 2 days.
    let approved = broker
        .approve_access_request(bearer(
            pb::ApproveAccessRequestRequest {
                request_id: "approve-1".into(),
                access_request_id: req.access_request_id.clone(),
                duration: Some(prost_types::Duration {
                    seconds: 2 * 86400,
                    nanos: 0,
                }),
                scope: Some(rights(&["crm.deal:read"])),
                note: "only look".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let grant = approved.grant.unwrap();
    assert_eq!(
        approved.access_request.unwrap().state,
        pb::AccessRequestState::Approved as i32
    );
    assert_eq!(grant.state, pb::GrantState::Active as i32);
    assert_eq!(grant.granted_by, ctx.tenant.chief_admin_id);
    let length = grant.expire_time.unwrap().seconds - grant.create_time.unwrap().seconds;
    assert_eq!(length, 2 * 86400);

    // The one-time credential, then sign-in with MFA and a reason.
    let credential = ctx.credential(&grant.grant_id).await;
    let signed = ctx.sign_in(&credential).await.unwrap();
    let session = signed.session.clone().unwrap();
    assert_eq!(session.grant_id, grant.grant_id);
    assert_eq!(session.tenant_id, ctx.tenant.tenant_id);
    assert!(!signed.refresh_token.is_empty());

    // CheckAccess: in scope allowed, out of scope and admin-only refused.
    let ok = ctx
        .check(
            &mut broker,
            &backend,
            &signed.access_token,
            "crm.deal",
            "read",
        )
        .await;
    assert!(ok.allowed, "{}", ok.reason);
    assert_eq!(ok.session_id, session.session_id);
    let out = ctx
        .check(
            &mut broker,
            &backend,
            &signed.access_token,
            "crm.deal",
            "change",
        )
        .await;
    assert!(!out.allowed);
    assert!(
        out.reason.contains("outside the grant's scope"),
        "{}",
        out.reason
    );
    let admin_area = ctx
        .check(
            &mut broker,
            &backend,
            &signed.access_token,
            "identity.admins",
            "read",
        )
        .await;
    assert!(!admin_area.allowed);
    assert!(
        admin_area.reason.contains("admin-only"),
        "{}",
        admin_area.reason
    );

    // Refresh rotates: the new token works, the old refresh token is spent.
    let refreshed = broker
        .refresh_support_session(pb::RefreshSupportSessionRequest {
            refresh_token: signed.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        ctx.check(
            &mut broker,
            &backend,
            &refreshed.access_token,
            "crm.deal",
            "read"
        )
        .await
        .allowed
    );
    let spent = broker
        .refresh_support_session(pb::RefreshSupportSessionRequest {
            refresh_token: signed.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&spent, Code::Unauthenticated, &["refresh token"]);

    // The credential is one-time.
    let reuse = ctx.sign_in(&credential).await.unwrap_err();
    assert_status(
        &reuse,
        Code::PermissionDenied,
        &[
            "support access to Acme Trading is not granted; ask its administrator",
            "already been used",
        ],
    );

    // The admin revokes: the session's token fails at once.
    let revoked = broker
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: "revoke-1".into(),
                grant_id: grant.grant_id.clone(),
                reason: "done".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(revoked.state, pb::GrantState::Revoked as i32);
    assert_eq!(revoked.revoked_by, ctx.tenant.chief_admin_id);
    let after = ctx
        .check(
            &mut broker,
            &backend,
            &refreshed.access_token,
            "crm.deal",
            "read",
        )
        .await;
    assert!(!after.allowed);
    assert!(after.reason.contains("revoked"), "{}", after.reason);

    // Sessions list shows the ended session with its reason.
    let sessions = broker
        .list_support_sessions(bearer(
            pb::ListSupportSessionsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].end_reason, "revoked");
    assert!(sessions[0].sign_out_time.is_some());

    // Every step reached audit, with the agent and the granting admin named.
    let kinds = [
        EventKind::ModeChanged,
        EventKind::RequestCreated,
        EventKind::RequestApproved,
        EventKind::SignIn,
        EventKind::SignInRefused,
        EventKind::GrantRevoked,
        EventKind::SignOut,
    ];
    let got =
        eventually(|| async { kinds.iter().all(|k| !ctx.received.of_kind(*k).is_empty()) }).await;
    assert!(got, "missing events");
    let sign_in = &ctx.received.of_kind(EventKind::SignIn)[0];
    assert_eq!(sign_in.agent.as_ref().unwrap().email, ctx.agent.email);
    assert_eq!(
        sign_in.granted_by.as_ref().unwrap().email,
        ctx.tenant.admin_email
    );
    assert_eq!(sign_in.session_id, session.session_id);
    assert_eq!(sign_in.reason, "checking the deal pipeline settings");
}

#[tokio::test]
async fn retried_mutations_return_the_first_result() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let msg = ctx.request_msg("T-9", read_only());
    let a = ctx
        .broker()
        .create_access_request(bearer(msg.clone(), &ctx.agent.token))
        .await
        .unwrap()
        .into_inner();
    let b = ctx
        .broker()
        .create_access_request(bearer(msg, &ctx.agent.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        a.access_request.unwrap().access_request_id,
        b.access_request.unwrap().access_request_id
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_and_actions_are_recorded() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let mut broker = ctx.broker();
    broker
        .check_access(bearer(
            pb::CheckAccessRequest {
                session_token: s.access_token.clone(),
                tenant_id: ctx.tenant.tenant_id.clone(),
                entity: "crm.deal".into(),
                action: "read".into(),
                record: true,
            },
            &backend,
        ))
        .await
        .unwrap();
    let action_id = uuid::Uuid::new_v4().to_string();
    let reported = broker
        .report_action(bearer(
            pb::ReportActionRequest {
                request_id: action_id.clone(),
                session_token: s.access_token.clone(),
                entity: "crm.deal".into(),
                action: "read".into(),
                resource_id: "deal-42".into(),
                detail: "opened the deal card".into(),
            },
            &backend,
        ))
        .await
        .unwrap()
        .into_inner();
    // The event id is derived from the request id, never the request id
    // itself: two backends' keys cannot collide.
    assert_ne!(reported.event_id, action_id);
    // The same report again is not recorded twice.
    broker
        .report_action(bearer(
            pb::ReportActionRequest {
                request_id: action_id.clone(),
                session_token: s.access_token.clone(),
                entity: "crm.deal".into(),
                action: "read".into(),
                ..Default::default()
            },
            &backend,
        ))
        .await
        .unwrap();

    let session_id = s.session.unwrap().session_id;
    let out = broker
        .sign_out_of_tenant(bearer(
            pb::SignOutOfTenantRequest {
                session_id: session_id.clone(),
            },
            &s.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(out.end_reason, "sign-out");
    let after = ctx
        .check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!after.allowed);
    assert!(after.reason.contains("ended"), "{}", after.reason);
    let again = broker
        .sign_out_of_tenant(bearer(
            pb::SignOutOfTenantRequest { session_id },
            &s.access_token,
        ))
        .await
        .unwrap_err();
    assert_status(&again, Code::FailedPrecondition, &["already ended"]);

    assert!(
        eventually(|| async {
            ctx.received.of_kind(EventKind::Action).len() == 2
                && !ctx.received.of_kind(EventKind::SignOut).is_empty()
        })
        .await
    );
    let actions = ctx.received.of_kind(EventKind::Action);
    assert!(actions.iter().any(|e| e.event_id == reported.event_id
        && e.attributes.get("resource_id").map(String::as_str) == Some("deal-42")));
    assert!(actions.iter().all(|e| e.allowed && e.entity == "crm.deal"));
}
