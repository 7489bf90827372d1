//! Standing mode: sign-in without a credential, still with a reason, under the
//! admin who turned it on; turning it off ends the standing sessions.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn standing_mode_lets_agents_in_read_only_until_turned_off() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    ctx.set_mode(pb::SupportAccessMode::Standing).await;
    let s = ctx.sign_in("").await.unwrap();
    let session = s.session.clone().unwrap();
    assert_eq!(session.granted_by, ctx.tenant.chief_admin_id);
    assert!(session.scope.unwrap().read_only);
    let mut broker = ctx.broker();
    assert!(
        ctx.check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
            .await
            .allowed
    );
    assert!(
        !ctx.check(&mut broker, &backend, &s.access_token, "crm.deal", "change")
            .await
            .allowed
    );
    // A second sign-in reuses the standing grant.
    let s2 = ctx.sign_in("").await.unwrap();
    assert_eq!(s2.session.unwrap().grant_id, session.grant_id);

    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let after = ctx
        .check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!after.allowed);
    let e = ctx.sign_in("").await.unwrap_err();
    assert_status(
        &e,
        Code::PermissionDenied,
        &["not granted", "one-time credential"],
    );
    assert!(eventually(|| async { ctx.received.of_kind(EventKind::SignIn).len() == 2 }).await);
    let sign_in = &ctx.received.of_kind(EventKind::SignIn)[0];
    assert_eq!(
        sign_in.granted_by.as_ref().unwrap().actor_id,
        ctx.tenant.chief_admin_id
    );
    assert_eq!(
        sign_in.attributes.get("standing").map(String::as_str),
        Some("true")
    );
    let settings = ctx
        .broker()
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
            },
            &ctx.suite.agent_token(&ctx.agent).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    // An agent sees whether and how it may enter, nothing else.
    assert_eq!(
        settings,
        pb::SupportAccessSettings {
            tenant_id: ctx.tenant.tenant_id.clone(),
            mode: pb::SupportAccessMode::OnRequest as i32,
            ..Default::default()
        }
    );
    // The tenant's admin sees everything.
    let full = ctx
        .broker()
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(full.updated_by, ctx.tenant.chief_admin_id);
    assert!(full.max_grant_duration.is_some() && full.standing_scope.is_some());
}

#[tokio::test]
async fn concurrent_first_sign_ins_share_one_standing_grant() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::Standing).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut b = ctx.broker();
        let msg = pb::SignInToTenantRequest {
            request_id: String::new(),
            tenant_id: ctx.tenant.tenant_id.clone(),
            credential: String::new(),
            reason: "checking the deal pipeline settings".into(),
        };
        let token = ctx.agent.token.clone();
        tasks.push(tokio::spawn(async move {
            b.sign_in_to_tenant(bearer(msg, &token)).await
        }));
    }
    let mut grant_ids = std::collections::HashSet::new();
    for t in tasks {
        let s = t.await.unwrap().expect("standing sign-in");
        grant_ids.insert(s.into_inner().session.unwrap().grant_id);
    }
    assert_eq!(grant_ids.len(), 1, "{grant_ids:?}");
    let grants = ctx
        .broker()
        .list_grants(bearer(
            pb::ListGrantsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .grants;
    assert_eq!(grants.len(), 1);
}

#[tokio::test]
async fn an_unswept_expired_standing_grant_is_replaced() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::Standing).await;
    let first = ctx.sign_in("").await.unwrap().session.unwrap();
    // Past the standing grant's end (the tenant's ceiling, 30 days), before
    // any sweep: the next sign-in expires it and makes a new one.
    ctx.suite.clock.advance(chrono::Duration::days(31));
    let second = ctx.sign_in("").await.unwrap().session.unwrap();
    assert_ne!(first.grant_id, second.grant_id);
    let g = ctx
        .broker()
        .get_grant(bearer(
            pb::GetGrantRequest {
                grant_id: first.grant_id.clone(),
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(g.state, pb::GrantState::Expired as i32);
    assert!(
        eventually(|| async { ctx.received.of_kind(EventKind::GrantExpired).len() == 1 }).await
    );
}
