//! The one-time credential: good until used, replaceable while unused, never
//! issued again once used.

use crate::common::*;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn a_used_credential_is_never_issued_again() {
    let ctx = Ctx::new().await;
    let (g, _session) = ctx.live_session(read_only()).await;
    let again = ctx
        .broker()
        .issue_grant_credential(bearer(
            pb::IssueGrantCredentialRequest {
                grant_id: g.grant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(
        &again,
        Code::FailedPrecondition,
        &["one-time credential was already used", "new grant"],
    );
    // No credential of this grant lets the agent in a second time.
    for credential in ["", "made-up-credential"] {
        let e = ctx.sign_in(credential).await.unwrap_err();
        assert_status(&e, Code::PermissionDenied, &["not granted"]);
    }
}

#[tokio::test]
async fn reissuing_an_unused_credential_replaces_it() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let r = ctx.request("T-300", read_only()).await;
    let g = ctx.approve(&r.access_request_id).await;
    let first = ctx.credential(&g.grant_id).await;
    let second = ctx.credential(&g.grant_id).await;
    assert_ne!(first, second);
    let e = ctx.sign_in(&first).await.unwrap_err();
    assert_status(
        &e,
        Code::PermissionDenied,
        &["one-time credential is not valid"],
    );
    ctx.sign_in(&second)
        .await
        .expect("the newest credential works");
    let e = ctx.sign_in(&second).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["already been used"]);
}
