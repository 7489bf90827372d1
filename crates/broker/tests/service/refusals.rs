//! Every refusal: wrong approver, wrong tenant, reused credential (also
//! concurrently), denied / revoked grants, closed mode, widening on approval,
//! admin-only areas, CheckAccess without the backend scope.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

fn approve_msg(id: &str) -> pb::ApproveAccessRequestRequest {
    pb::ApproveAccessRequestRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        access_request_id: id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn only_this_tenants_admins_decide() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-2", read_only()).await;
    let employee = ctx
        .suite
        .create_employee(&ctx.tenant, "clerk@acme.example", false)
        .await;
    let other = ctx.suite.create_tenant("Other Corp", 5).await;
    let mut broker = ctx.broker();

    let e = broker
        .approve_access_request(bearer(approve_msg(&req.access_request_id), &employee.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["only an administrator"]);
    let e = broker
        .approve_access_request(bearer(
            approve_msg(&req.access_request_id),
            &other.admin_token,
        ))
        .await
        .unwrap_err();
    // Another tenant's admin is not told the request exists.
    assert_status(&e, Code::NotFound, &["not found"]);
    assert!(!e.message().contains(&ctx.tenant.tenant_id), "{e:?}");
    // The agent may see their request but not decide it.
    let e = broker
        .approve_access_request(bearer(
            approve_msg(&req.access_request_id),
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &[]);
    assert!(!e.message().contains(&ctx.tenant.tenant_id), "{e:?}");
    let e = broker
        .deny_access_request(bearer(
            pb::DenyAccessRequestRequest {
                request_id: String::new(),
                access_request_id: req.access_request_id.clone(),
                note: "no".into(),
            },
            &other.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::NotFound, &["not found"]);
    // Non-admins may not change the mode either.
    let e = broker
        .update_support_access_settings(bearer(
            pb::UpdateSupportAccessSettingsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
                mode: Some(pb::SupportAccessMode::Standing as i32),
                ..Default::default()
            },
            &employee.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["only an administrator"]);
    // Without a token nothing works.
    let e = broker
        .get_access_request(pb::GetAccessRequestRequest {
            access_request_id: req.access_request_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // The request is still pending.
    let r = broker
        .get_access_request(bearer(
            pb::GetAccessRequestRequest {
                access_request_id: req.access_request_id.clone(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(r.state, pb::AccessRequestState::Pending as i32);
}

#[tokio::test]
async fn a_denied_request_means_no_entry_and_the_attempt_is_recorded() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-3", read_only()).await;
    let denied = ctx
        .broker()
        .deny_access_request(bearer(
            pb::DenyAccessRequestRequest {
                request_id: String::new(),
                access_request_id: req.access_request_id.clone(),
                note: "send screenshots".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(denied.state, pb::AccessRequestState::Denied as i32);
    assert_eq!(denied.decision_note, "send screenshots");
    // A denied request cannot be approved afterwards.
    let e = ctx
        .broker()
        .approve_access_request(bearer(
            approve_msg(&req.access_request_id),
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, &["denied"]);
    let e = ctx.sign_in("").await.unwrap_err();
    assert_status(
        &e,
        Code::PermissionDenied,
        &[
            "support access to Acme Trading is not granted; ask its administrator",
            "denied",
        ],
    );
    let e = ctx.sign_in("not-a-real-credential").await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["not granted", "not valid"]);
    assert!(
        eventually(|| async { ctx.received.of_kind(EventKind::SignInRefused).len() == 2 }).await
    );
    let refused = ctx.received.of_kind(EventKind::SignInRefused);
    assert!(refused.iter().all(|e| e.tenant_id == ctx.tenant.tenant_id
        && e.agent.as_ref().unwrap().actor_id == ctx.agent.agent_id));
    assert!(refused.iter().any(|e| {
        e.attributes
            .get("refusal")
            .is_some_and(|r| r.contains("denied"))
    }));
}

#[tokio::test]
async fn closed_mode_refuses_sign_in_even_with_a_credential() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-4", read_only()).await;
    let g = ctx.approve(&req.access_request_id).await;
    let c = ctx.credential(&g.grant_id).await;
    ctx.set_mode(pb::SupportAccessMode::Closed).await;
    let e = ctx.sign_in(&c).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["not granted", "closed"]);
    // Closing revoked the grant too.
    let g = ctx
        .broker()
        .get_grant(bearer(
            pb::GetGrantRequest {
                grant_id: g.grant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(g.state, pb::GrantState::Revoked as i32);
}

#[tokio::test]
async fn a_revoked_grants_credential_is_refused() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-5", read_only()).await;
    let g = ctx.approve(&req.access_request_id).await;
    let c = ctx.credential(&g.grant_id).await;
    ctx.broker()
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: String::new(),
                grant_id: g.grant_id.clone(),
                reason: String::new(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap();
    let e = ctx.sign_in(&c).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["not granted", "revoked"]);
    // A new credential is not issued for an ended grant.
    let e = ctx
        .broker()
        .issue_grant_credential(bearer(
            pb::IssueGrantCredentialRequest {
                grant_id: g.grant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, &["revoked"]);
}

#[tokio::test]
async fn concurrent_use_of_one_credential_lets_exactly_one_in() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-6", read_only()).await;
    let g = ctx.approve(&req.access_request_id).await;
    let c = ctx.credential(&g.grant_id).await;
    let attempts = (0..8).map(|_| ctx.sign_in(&c));
    let results = futures_join_all(attempts).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_status(r, Code::PermissionDenied, &["already been used"]);
    }
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.map(Box::pin).collect();
    let mut out = Vec::new();
    // Poll all at once so they race inside the broker.
    let joined = tokio_join_all(handles).await;
    out.extend(joined);
    out
}

async fn tokio_join_all<F: std::future::Future + Unpin>(mut fs: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut results: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in fs.iter_mut().enumerate() {
            if results[i].is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    Poll::Ready(v) => results[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}

#[tokio::test]
async fn approval_only_narrows_and_admin_only_areas_are_never_granted() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let e = ctx
        .broker()
        .create_access_request(bearer(
            ctx.request_msg("T-7", rights(&["support_access:edit"])),
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["admin-only"]);
    let req = ctx.request("T-7", rights(&["crm.deal:read"])).await;
    let mut wider = approve_msg(&req.access_request_id);
    wider.scope = Some(rights(&["crm.lead:read"]));
    let e = ctx
        .broker()
        .approve_access_request(bearer(wider, &ctx.tenant.admin_token))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        &["may not add right crm.lead:read"],
    );
    let mut longer = approve_msg(&req.access_request_id);
    longer.duration = Some(prost_types::Duration {
        seconds: 8 * 86400,
        nanos: 0,
    });
    let e = ctx
        .broker()
        .approve_access_request(bearer(longer, &ctx.tenant.admin_token))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["shorten"]);
    let mut too_long = ctx.request_msg("T-8", read_only());
    too_long.duration = Some(prost_types::Duration {
        seconds: 31 * 86400,
        nanos: 0,
    });
    let e = ctx
        .broker()
        .create_access_request(bearer(too_long, &ctx.agent.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["ceiling"]);
    let mut short_reason = ctx.request_msg("T-8", read_only());
    short_reason.reason = "pls".into();
    let e = ctx
        .broker()
        .create_access_request(bearer(short_reason, &ctx.agent.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["reason"]);
    // Employees cannot ask for support access as agents.
    let e = ctx
        .broker()
        .create_access_request(bearer(
            ctx.request_msg("T-8", read_only()),
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["support agent"]);
}

#[tokio::test]
async fn credentials_and_checks_belong_to_their_owners() {
    let ctx = Ctx::new().await;
    let (g, s) = ctx.live_session(read_only()).await;
    let other_agent = ctx.suite.create_agent("Other Agent").await;
    let e = ctx
        .broker()
        .issue_grant_credential(bearer(
            pb::IssueGrantCredentialRequest {
                grant_id: g.grant_id.clone(),
            },
            &other_agent.token,
        ))
        .await
        .unwrap_err();
    // Another agent's grant is answered like a missing one.
    assert_status(
        &e,
        Code::NotFound,
        &[&format!("grant {} not found", g.grant_id)],
    );
    // CheckAccess needs the backend scope.
    let e = ctx
        .broker()
        .check_access(bearer(
            pb::CheckAccessRequest {
                session_token: s.access_token.clone(),
                tenant_id: ctx.tenant.tenant_id.clone(),
                entity: "crm.deal".into(),
                action: "read".into(),
                record: false,
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["broker.check_access"]);
    // A session is only good in its own tenant, and a forged token is refused.
    let backend = ctx.backend_token().await;
    let mut broker = ctx.broker();
    let other = ctx.suite.create_tenant("Other Corp", 5).await;
    let r = broker
        .check_access(bearer(
            pb::CheckAccessRequest {
                session_token: s.access_token.clone(),
                tenant_id: other.tenant_id.clone(),
                entity: "crm.deal".into(),
                action: "read".into(),
                record: false,
            },
            &backend,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !r.allowed && r.reason.contains("another tenant"),
        "{}",
        r.reason
    );
    let forged = ctx
        .check(&mut broker, &backend, &ctx.agent.token, "crm.deal", "read")
        .await;
    assert!(
        !forged.allowed && forged.reason.contains("invalid support-session token"),
        "{}",
        forged.reason
    );
}

#[tokio::test]
async fn requests_and_grants_are_read_only_by_their_agent_or_their_tenants_admins() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-9", read_only()).await;
    let g = ctx.approve(&req.access_request_id).await;
    let other_agent = ctx.suite.create_agent("Olga Other").await;
    let other_tenant = ctx.suite.create_tenant("Other Corp", 5).await;
    let mut broker = ctx.broker();

    for token in [&other_agent.token, &other_tenant.admin_token] {
        let e = broker
            .get_grant(bearer(
                pb::GetGrantRequest {
                    grant_id: g.grant_id.clone(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_status(
            &e,
            Code::NotFound,
            &[&format!("grant {} not found", g.grant_id)],
        );
        let e = broker
            .get_access_request(bearer(
                pb::GetAccessRequestRequest {
                    access_request_id: req.access_request_id.clone(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_status(
            &e,
            Code::NotFound,
            &[&format!(
                "access request {} not found",
                req.access_request_id
            )],
        );
    }
    // The agent it concerns may read both.
    let own = broker
        .get_grant(bearer(
            pb::GetGrantRequest {
                grant_id: g.grant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(own.grant_id, g.grant_id);
}
