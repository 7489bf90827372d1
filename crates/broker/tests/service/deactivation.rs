//! A deactivated agent loses access: refresh and sign-in are refused and the
//! agent's live sessions end (`agent-deactivated`).

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_proto::identity::v1 as idpb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn a_deactivated_agent_cannot_refresh_and_the_session_ends() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let mut broker = ctx.broker();
    let first = broker
        .refresh_support_session(pb::RefreshSupportSessionRequest {
            refresh_token: s.refresh_token.clone(),
        })
        .await
        .expect("an active agent refreshes")
        .into_inner();

    let operator = ctx.suite.operator_token().await;
    ctx.suite
        .identity()
        .deactivate_user(bearer(
            idpb::DeactivateUserRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: ctx.agent.agent_id.clone(),
            },
            &operator,
        ))
        .await
        .expect("operator deactivates the agent");
    // Identity's standing feed tells the broker within milliseconds;
    // CheckAccess refuses from the moment it has.
    assert!(
        eventually(|| async {
            let mut b = ctx.broker();
            !ctx.check(&mut b, &backend, &first.access_token, "crm.deal", "read")
                .await
                .allowed
        })
        .await
    );

    // The session is ended on the record with the dismissal as its reason…
    assert!(
        eventually(|| async {
            ctx.received.of_kind(EventKind::SignOut).iter().any(|e| {
                e.attributes.get("end_reason").map(String::as_str) == Some("agent-deactivated")
            })
        })
        .await
    );
    // …so its refresh token is dead and CheckAccess says why.
    let e = broker
        .refresh_support_session(pb::RefreshSupportSessionRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::Unauthenticated, &["not valid"]);
    let after = ctx
        .check(
            &mut broker,
            &backend,
            &first.access_token,
            "crm.deal",
            "read",
        )
        .await;
    assert!(!after.allowed);
    assert!(
        after.reason.contains("agent-deactivated"),
        "{}",
        after.reason
    );
}

#[tokio::test]
async fn a_deactivated_agent_cannot_sign_in() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::Standing).await;
    // The agent's identity token dies with the dismissal: every service
    // refuses it as soon as identity's standing feed reaches it.
    let operator = ctx.suite.operator_token().await;
    ctx.suite
        .identity()
        .deactivate_user(bearer(
            idpb::DeactivateUserRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: ctx.agent.agent_id.clone(),
            },
            &operator,
        ))
        .await
        .expect("operator deactivates the agent");
    assert!(
        eventually(|| async {
            ctx.sign_in("")
                .await
                .is_err_and(|e| e.code() == Code::Unauthenticated)
        })
        .await
    );
    let e = ctx.sign_in("").await.unwrap_err();
    assert_status(&e, Code::Unauthenticated, &["deactivated"]);
}
