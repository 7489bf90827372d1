//! Closing support access closes what is pending: pending requests are
//! cancelled, grants (and with them unused credentials) revoked, live
//! sessions ended; nothing is approved while closed, and reopening revives
//! nothing from before.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

const CLOSED: &str = "support-access-closed";

fn approve_msg(id: &str) -> pb::ApproveAccessRequestRequest {
    pb::ApproveAccessRequestRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        access_request_id: id.into(),
        ..Default::default()
    }
}

async fn get_request(ctx: &Ctx, id: &str) -> pb::AccessRequest {
    ctx.broker()
        .get_access_request(bearer(
            pb::GetAccessRequestRequest {
                access_request_id: id.into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap()
}

async fn get_grant(ctx: &Ctx, id: &str) -> pb::Grant {
    ctx.broker()
        .get_grant(bearer(
            pb::GetGrantRequest {
                grant_id: id.into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap()
}

#[tokio::test]
async fn closing_cancels_requests_and_ends_grants_credentials_and_sessions() {
    let ctx = Ctx::new().await;
    // A live session, an approved grant with an unused credential, and a
    // request still waiting.
    let (live, s) = ctx.live_session(read_only()).await;
    let session_id = s.session.as_ref().unwrap().session_id.clone();
    let approved = ctx.request("T-200", read_only()).await;
    let unused = ctx.approve(&approved.access_request_id).await;
    let credential = ctx.credential(&unused.grant_id).await;
    let waiting = ctx.request("T-300", read_only()).await;
    let backend = ctx.backend_token().await;
    let mut b = ctx.broker();
    assert!(
        ctx.check(&mut b, &backend, &s.access_token, "crm.deal", "read")
            .await
            .allowed
    );

    ctx.set_mode(pb::SupportAccessMode::Closed).await;

    let r = get_request(&ctx, &waiting.access_request_id).await;
    assert_eq!(r.state, pb::AccessRequestState::Cancelled as i32);
    assert_eq!(r.decision_note, CLOSED);
    for g in [&live, &unused] {
        let g = get_grant(&ctx, &g.grant_id).await;
        assert_eq!(g.state, pb::GrantState::Revoked as i32);
    }
    let sessions = b
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
    let ended = sessions
        .iter()
        .find(|x| x.session_id == session_id)
        .unwrap();
    assert_eq!(ended.end_reason, CLOSED);
    // CheckAccess sees it at once (the cache was invalidated).
    let c = ctx
        .check(&mut b, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!c.allowed && c.reason.contains(CLOSED), "{}", c.reason);
    assert!(
        eventually(|| async {
            ctx.received
                .of_kind(EventKind::RequestCancelled)
                .iter()
                .any(|e| {
                    e.access_request_id == waiting.access_request_id
                        && e.attributes.get("note").map(String::as_str) == Some(CLOSED)
                })
        })
        .await
    );

    // Nothing is approved while closed, and the refusal says why.
    let e = b
        .approve_access_request(bearer(
            approve_msg(&waiting.access_request_id),
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::FailedPrecondition,
        &["closed", "open support access"],
    );

    // Reopening revives nothing from before.
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let e = b
        .approve_access_request(bearer(
            approve_msg(&waiting.access_request_id),
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, &["cancelled"]);
    let e = ctx.sign_in(&credential).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["not granted", "revoked"]);
    let e = b
        .issue_grant_credential(bearer(
            pb::IssueGrantCredentialRequest {
                grant_id: unused.grant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let r = b
        .refresh_support_session(pb::RefreshSupportSessionRequest {
            refresh_token: s.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    // The session ended, so its refresh token is spent.
    assert_eq!(r.code(), Code::Unauthenticated, "{r:?}");

    // A request filed after reopening works as usual.
    let fresh = ctx.request("T-400", read_only()).await;
    let g = ctx.approve(&fresh.access_request_id).await;
    let c = ctx.credential(&g.grant_id).await;
    ctx.sign_in(&c).await.expect("sign in after reopening");
}
