//! CheckAccessBatch: a page's worth of decisions in one call, each the same
//! as CheckAccess would give, refused together when the session gives no
//! access, bounded, and recorded one event per decision when asked.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;

fn pairs(p: &[(&str, &str)]) -> Vec<pb::AccessCheck> {
    p.iter()
        .map(|(e, a)| pb::AccessCheck {
            entity: (*e).into(),
            action: (*a).into(),
        })
        .collect()
}

fn batch(
    ctx: &Ctx,
    token: &str,
    checks: Vec<pb::AccessCheck>,
    record: bool,
) -> pb::CheckAccessBatchRequest {
    pb::CheckAccessBatchRequest {
        session_token: token.into(),
        tenant_id: ctx.tenant.tenant_id.clone(),
        checks,
        record,
    }
}

const MIX: &[(&str, &str)] = &[
    ("crm.deal", "read"),
    ("crm.deal", "update"),
    ("crm.contact", "read"),
    ("crm.contact", "delete"),
];

#[tokio::test]
async fn each_decision_is_what_check_access_says_in_the_order_asked() {
    let ctx = Ctx::new().await;
    let (grant, session) = ctx.live_session(read_only()).await;
    let backend = ctx.backend_token().await;
    let mut client = ctx.broker();
    let got = client
        .check_access_batch(bearer(
            batch(&ctx, &session.access_token, pairs(MIX), false),
            &backend,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.grant_id, grant.grant_id);
    assert_eq!(got.session_id, session.session.as_ref().unwrap().session_id);
    assert_eq!(got.agent_id, ctx.agent.agent_id);
    let allowed: Vec<bool> = got.decisions.iter().map(|d| d.allowed).collect();
    assert_eq!(allowed, [true, false, true, false]);
    for ((entity, action), d) in MIX.iter().zip(&got.decisions) {
        let single = ctx
            .check(&mut client, &backend, &session.access_token, entity, action)
            .await;
        assert_eq!(
            (single.allowed, single.reason.as_str()),
            (d.allowed, d.reason.as_str())
        );
    }

    // Another tenant's backend call: every pair refused, the session named.
    let mut elsewhere = batch(&ctx, &session.access_token, pairs(MIX), false);
    elsewhere.tenant_id = uuid::Uuid::new_v4().to_string();
    let other = client
        .check_access_batch(bearer(elsewhere, &backend))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.grant_id, grant.grant_id);
    for d in &other.decisions {
        assert_eq!(
            (d.allowed, d.reason.as_str()),
            (false, "the support session is for another tenant")
        );
    }
    // A token that is not a session token: refused pair by pair, no ids.
    let forged = client
        .check_access_batch(bearer(
            batch(&ctx, "not-a-token", pairs(MIX), false),
            &backend,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(forged.decisions.len(), MIX.len());
    assert!(forged.decisions.iter().all(|d| !d.allowed));
    assert_eq!(forged.session_id, "");

    // Revoked: every pair is refused, with the session's reason.
    client
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: "revoke-batch".into(),
                grant_id: grant.grant_id.clone(),
                reason: "done".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap();
    let after = client
        .check_access_batch(bearer(
            batch(&ctx, &session.access_token, pairs(MIX), false),
            &backend,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.decisions.len(), MIX.len());
    for d in &after.decisions {
        assert!(!d.allowed);
        assert!(d.reason.contains("revoked"), "{}", d.reason);
    }
}

#[tokio::test]
async fn batches_are_bounded_and_each_pair_is_checked_by_name() {
    let ctx = Ctx::new().await;
    let (_, session) = ctx.live_session(read_only()).await;
    let backend = ctx.backend_token().await;
    let mut client = ctx.broker();
    for n in [0, 101] {
        let checks = pairs(&vec![("crm.deal", "read"); n]);
        let err = client
            .check_access_batch(bearer(
                batch(&ctx, &session.access_token, checks, false),
                &backend,
            ))
            .await
            .unwrap_err();
        assert_status(
            &err,
            tonic::Code::InvalidArgument,
            &["checks must hold 1 to 100", &n.to_string()],
        );
    }
    let err = client
        .check_access_batch(bearer(
            batch(
                &ctx,
                &session.access_token,
                pairs(&[("crm.deal", "read"), ("crm.deal", "read"), ("", "read")]),
                false,
            ),
            &backend,
        ))
        .await
        .unwrap_err();
    assert_status(&err, tonic::Code::InvalidArgument, &["checks[2].entity"]);
    // The agent is not a backend.
    let err = client
        .check_access_batch(bearer(
            batch(&ctx, &session.access_token, pairs(MIX), false),
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
}

#[tokio::test]
async fn recorded_batches_write_one_action_per_decision() {
    let ctx = Ctx::new().await;
    let (_, session) = ctx.live_session(read_only()).await;
    let backend = ctx.backend_token().await;
    ctx.broker()
        .check_access_batch(bearer(
            batch(&ctx, &session.access_token, pairs(MIX), true),
            &backend,
        ))
        .await
        .unwrap();
    let arrived =
        eventually(|| async { ctx.received.of_kind(EventKind::Action).len() == MIX.len() }).await;
    let actions = ctx.received.of_kind(EventKind::Action);
    assert!(arrived, "{} actions arrived", actions.len());
    let mut seen: Vec<(String, String, bool)> = actions
        .iter()
        .map(|e| (e.entity.clone(), e.action.clone(), e.allowed))
        .collect();
    seen.sort();
    let mut want: Vec<(String, String, bool)> = MIX
        .iter()
        .zip([true, false, true, false])
        .map(|((e, a), ok)| ((*e).to_string(), (*a).to_string(), ok))
        .collect();
    want.sort();
    assert_eq!(seen, want);
}
