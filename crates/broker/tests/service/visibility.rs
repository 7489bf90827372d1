//! Refusals reveal nothing about other tenants: another tenant's admin (or
//! another agent) is answered NOT_FOUND exactly as for a missing id, and a
//! tenant that does not exist is NOT_FOUND with nothing written for it.

use crate::common::*;
use keyholder_broker::store::entities::{outbox, requests, settings};
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tonic::{Code, Status};

/// NOT_FOUND with exactly `message`, naming not the owner's tenant.
fn hidden(r: Result<impl std::fmt::Debug, Status>, message: &str, owner_tenant: &str) {
    let e = r.expect_err("refused");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert_eq!(e.message(), message);
    assert!(!e.message().contains(owner_tenant), "{e:?}");
}

#[tokio::test]
async fn another_tenants_admin_and_another_agent_see_nothing() {
    let ctx = Ctx::new().await;
    let (g, s) = ctx.live_session(read_only()).await;
    let session_id = s.session.as_ref().unwrap().session_id.clone();
    let pending = ctx.request("T-101", read_only()).await;
    let rid = pending.access_request_id.clone();
    let other = ctx.suite.create_tenant("Other Corp", 5).await;
    let other_agent = ctx.suite.create_agent("Olga Other").await;
    let owner = ctx.tenant.tenant_id.clone();
    let mut b = ctx.broker();
    let t = other.admin_token.as_str();

    let request_gone = format!("access request {rid} not found");
    // The very answer a missing id gets.
    let no_such = uuid::Uuid::new_v4().to_string();
    let missing = b
        .get_access_request(bearer(
            pb::GetAccessRequestRequest {
                access_request_id: no_such.clone(),
            },
            t,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        missing.message(),
        format!("access request {no_such} not found")
    );
    let get = pb::GetAccessRequestRequest {
        access_request_id: rid.clone(),
    };
    hidden(
        b.get_access_request(bearer(get, t)).await,
        &request_gone,
        &owner,
    );
    let approve = pb::ApproveAccessRequestRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        access_request_id: rid.clone(),
        ..Default::default()
    };
    hidden(
        b.approve_access_request(bearer(approve, t)).await,
        &request_gone,
        &owner,
    );
    let deny = pb::DenyAccessRequestRequest {
        request_id: String::new(),
        access_request_id: rid.clone(),
        note: "no".into(),
    };
    hidden(
        b.deny_access_request(bearer(deny, t)).await,
        &request_gone,
        &owner,
    );

    let grant_gone = format!("grant {} not found", g.grant_id);
    let get = pb::GetGrantRequest {
        grant_id: g.grant_id.clone(),
    };
    hidden(b.get_grant(bearer(get, t)).await, &grant_gone, &owner);
    let extend = pb::ExtendGrantRequest {
        request_id: String::new(),
        grant_id: g.grant_id.clone(),
        expire_time: Some(prost_types::Timestamp {
            seconds: g.expire_time.unwrap().seconds + 3600,
            nanos: 0,
        }),
    };
    hidden(b.extend_grant(bearer(extend, t)).await, &grant_gone, &owner);
    let revoke = pb::RevokeGrantRequest {
        request_id: String::new(),
        grant_id: g.grant_id.clone(),
        reason: String::new(),
    };
    hidden(b.revoke_grant(bearer(revoke, t)).await, &grant_gone, &owner);
    let issue = pb::IssueGrantCredentialRequest {
        grant_id: g.grant_id.clone(),
    };
    hidden(
        b.issue_grant_credential(bearer(issue, &other_agent.token))
            .await,
        &grant_gone,
        &owner,
    );
    let sign_out = pb::SignOutOfTenantRequest {
        session_id: session_id.clone(),
    };
    hidden(
        b.sign_out_of_tenant(bearer(sign_out, &other_agent.token))
            .await,
        &format!("support session {session_id} not found"),
        &owner,
    );

    // Tenant-addressed calls: the same answer as for a tenant that does not
    // exist (the id in it is the one the caller sent).
    for tenant in [owner.clone(), uuid::Uuid::new_v4().to_string()] {
        let gone = format!("tenant {tenant} not found");
        let get = pb::GetSupportAccessSettingsRequest {
            tenant_id: tenant.clone(),
        };
        let e = b
            .get_support_access_settings(bearer(get, t))
            .await
            .unwrap_err();
        assert_status(&e, Code::NotFound, &[&gone]);
        let update = pb::UpdateSupportAccessSettingsRequest {
            tenant_id: tenant.clone(),
            mode: Some(pb::SupportAccessMode::Closed as i32),
            ..Default::default()
        };
        let e = b
            .update_support_access_settings(bearer(update, t))
            .await
            .unwrap_err();
        assert_status(&e, Code::NotFound, &[&gone]);
        let list = pb::ListAccessRequestsRequest {
            tenant_id: tenant.clone(),
            ..Default::default()
        };
        let e = b.list_access_requests(bearer(list, t)).await.unwrap_err();
        assert_status(&e, Code::NotFound, &[&gone]);
        let list = pb::ListGrantsRequest {
            tenant_id: tenant.clone(),
            ..Default::default()
        };
        let e = b.list_grants(bearer(list, t)).await.unwrap_err();
        assert_status(&e, Code::NotFound, &[&gone]);
        let list = pb::ListSupportSessionsRequest {
            tenant_id: tenant.clone(),
            ..Default::default()
        };
        let e = b.list_support_sessions(bearer(list, t)).await.unwrap_err();
        assert_status(&e, Code::NotFound, &[&gone]);
    }

    // A member who may see the grant but not act is still told why.
    let clerk = ctx
        .suite
        .create_employee(&ctx.tenant, "clerk@acme.example", false)
        .await;
    let revoke = pb::RevokeGrantRequest {
        request_id: String::new(),
        grant_id: g.grant_id.clone(),
        reason: String::new(),
    };
    let e = b
        .revoke_grant(bearer(revoke, &clerk.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["only an administrator"]);

    // Nothing changed: the request is pending, the session still works.
    let r = b
        .get_access_request(bearer(
            pb::GetAccessRequestRequest {
                access_request_id: rid.clone(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(r.state, pb::AccessRequestState::Pending as i32);
    let backend = ctx.backend_token().await;
    assert!(
        ctx.check(&mut b, &backend, &s.access_token, "crm.deal", "read")
            .await
            .allowed
    );
}

#[tokio::test]
async fn an_unknown_tenant_is_not_found_and_nothing_is_written_for_it() {
    let ctx = Ctx::new().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let gone = format!("tenant {unknown} not found");
    let helpdesk = ctx
        .suite
        .create_service_account("helpdesk", &["broker.helpdesk"])
        .await
        .1;
    let mut b = ctx.broker();

    let e = b
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: unknown.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::NotFound, &[&gone]);
    let mut ask = ctx.request_msg("T-1", read_only());
    ask.tenant_id = unknown.clone();
    let e = b
        .create_access_request(bearer(ask.clone(), &ctx.agent.token))
        .await
        .unwrap_err();
    assert_status(&e, Code::NotFound, &[&gone]);
    ask.agent_id = ctx.agent.agent_id.clone();
    let e = b
        .create_access_request(bearer(ask, &helpdesk))
        .await
        .unwrap_err();
    assert_status(&e, Code::NotFound, &[&gone]);
    for credential in ["", "some-credential"] {
        let e = b
            .sign_in_to_tenant(bearer(
                pb::SignInToTenantRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: unknown.clone(),
                    credential: credential.into(),
                    reason: "checking the deal pipeline settings".into(),
                },
                &ctx.agent.token,
            ))
            .await
            .unwrap_err();
        assert_status(&e, Code::NotFound, &[&gone]);
    }
    // A real tenant still answers the agent (identity's answer is cached
    // only when positive).
    let s = b
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(s.tenant_id, ctx.tenant.tenant_id);

    // No settings, request or outbox row, hence no audit chain, for it.
    let db = ctx.broker_db().await;
    let n = settings::Entity::find()
        .filter(settings::Column::TenantId.eq(&unknown))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = requests::Entity::find()
        .filter(requests::Column::TenantId.eq(&unknown))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = outbox::Entity::find()
        .filter(outbox::Column::TenantId.eq(&unknown))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // And audit got nothing for it: a later event of the real tenant
    // arrives, none of the made-up one did before it.
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    assert!(
        eventually(|| async { !ctx.received.of_kind(EventKind::ModeChanged).is_empty() }).await
    );
    let events = ctx.received.events.lock().unwrap();
    assert!(events.iter().all(|e| e.tenant_id != unknown));
}
