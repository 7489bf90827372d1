//! Partners, integrators (limit, 2FA deadline, admin-minus), agents and
//! service accounts.

use crate::*;
use keyholder_kit::clock::{Clock, ManualClock};
use keyholder_testkit::totp_at;

fn invite(tenant: &str, email: &str) -> pb::InviteIntegratorRequest {
    pb::InviteIntegratorRequest {
        request_id: rid(),
        tenant_id: tenant.into(),
        email: email.into(),
        display_name: "Integrator".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn partners_are_registered_by_the_operator() {
    let s = suite().await;
    let op = s.operator_token().await;
    let a = s.create_tenant("A", 3).await;
    let reg = |domains: Vec<&str>, tok: &str| {
        call!(
            s,
            register_partner,
            bearer(
                pb::RegisterPartnerRequest {
                    request_id: rid(),
                    name: "Integra".into(),
                    email_domains: domains.into_iter().map(String::from).collect()
                },
                tok,
            )
        )
    };
    refused(
        reg(vec!["integra.example"], &a.admin_token).await,
        Code::PermissionDenied,
        "operator",
    );
    refused(reg(vec![], &op).await, Code::InvalidArgument, "domain");
    refused(
        reg(vec!["not a domain"], &op).await,
        Code::InvalidArgument,
        "domain",
    );
    let p = reg(
        vec!["Integra.example", "@integra.example", "integra.example"],
        &op,
    )
    .await
    .unwrap()
    .into_inner()
    .partner
    .unwrap();
    assert_eq!(p.email_domains, vec!["integra.example"]);
    refused(
        reg(vec!["integra.example"], &op).await,
        Code::AlreadyExists,
        "already belongs",
    );
    let list = s
        .identity()
        .list_partners(bearer(pb::ListPartnersRequest::default(), &op))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.partners, vec![p]);
    refused(
        s.identity()
            .list_partners(bearer(pb::ListPartnersRequest::default(), &a.admin_token))
            .await,
        Code::PermissionDenied,
        "operator",
    );
}

#[tokio::test]
async fn integrators_need_a_partner_domain_and_at_most_ten_per_partner() {
    let s = suite().await;
    let a = s.create_tenant("A", 1).await;
    let b = s.create_tenant("B", 1).await;
    let partner = s.register_partner("Integra", &["integra.example"]).await;
    let go = |req, tok: &str| call!(s, invite_integrator, bearer(req, tok));
    refused(
        go(invite(&a.tenant_id, "x@random.example"), &a.admin_token).await,
        Code::FailedPrecondition,
        "registered partner",
    );
    refused(
        go(invite(&a.tenant_id, "x@integra.example"), &b.admin_token).await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        s.identity()
            .invite_integrator(anon(invite(&a.tenant_id, "x@integra.example")))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        go(invite(&a.tenant_id, "bad"), &a.admin_token).await,
        Code::InvalidArgument,
        "e-mail",
    );
    for i in 0..10 {
        let inv = go(
            invite(&a.tenant_id, &format!("dev{i}@integra.example")),
            &a.admin_token,
        )
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
        assert_eq!(inv.state, pb::InvitationState::Pending as i32);
        assert_eq!(inv.partner_id, partner.partner_id);
    }
    // Accepted, an invitation becomes an integrator with 10 days for 2FA.
    let first = s
        .accept_invitation_of(&a.tenant_id, "dev0@integra.example")
        .await;
    let u = s
        .identity()
        .get_user(bearer(
            pb::GetUserRequest {
                user_id: first.user_id.clone(),
            },
            &a.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(u.kind, pb::PrincipalKind::Integrator as i32);
    assert_eq!(u.partner_id, partner.partner_id);
    let deadline = u.totp_deadline.unwrap().seconds - u.create_time.unwrap().seconds;
    assert!(
        (10 * 86_400 - 5..=10 * 86_400).contains(&deadline),
        "{deadline}"
    );
    refused(
        go(
            invite(&a.tenant_id, "dev10@integra.example"),
            &a.admin_token,
        )
        .await,
        Code::FailedPrecondition,
        "at most 10",
    );
    refused(
        go(invite(&a.tenant_id, "dev0@integra.example"), &a.admin_token).await,
        Code::AlreadyExists,
        "already exists",
    );
    // The limit is per tenant: B may still invite, past its seat limit too.
    go(invite(&b.tenant_id, "dev0@integra.example"), &b.admin_token)
        .await
        .unwrap();
    // Dismissing one frees a place; re-hiring is then refused at the limit.
    s.identity()
        .deactivate_user(bearer(
            pb::DeactivateUserRequest {
                request_id: rid(),
                user_id: first.user_id.clone(),
            },
            &a.admin_token,
        ))
        .await
        .unwrap();
    go(
        invite(&a.tenant_id, "dev10@integra.example"),
        &a.admin_token,
    )
    .await
    .unwrap();
    refused(
        s.identity()
            .reactivate_user(bearer(
                pb::ReactivateUserRequest {
                    request_id: rid(),
                    user_id: first.user_id,
                },
                &a.admin_token,
            ))
            .await,
        Code::FailedPrecondition,
        "at most 10",
    );
}

#[tokio::test]
async fn integrators_past_the_2fa_deadline_can_only_enrol() {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    let a = s.create_tenant("A", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let on_time = s.invite_integrator(&a, "fresh@integra.example").await;
    // Invited 11 days ago, accepted at once.
    clock.advance(chrono::Duration::days(-11));
    s.identity()
        .invite_integrator(bearer(
            invite(&a.tenant_id, "late@integra.example"),
            &a.admin_token,
        ))
        .await
        .unwrap();
    let u = s
        .identity()
        .accept_invitation(pb::AcceptInvitationRequest {
            request_id: rid(),
            token: s.invitation_token("late@integra.example").await,
            password: "long-enough-password".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    clock.advance(chrono::Duration::days(11));
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        &u.user_id,
        "crm.deal",
        "read",
    )
    .await;
    assert!(!d.allowed);
    assert!(d.rule.contains("2FA overdue"), "{}", d.rule);
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        &on_time.user_id,
        "crm.deal",
        "read",
    )
    .await;
    assert!(d.allowed && d.rule.starts_with("role integrator grants"));
    let resp = s
        .sign_in_response(
            &a.tenant_id,
            "late@integra.example",
            "long-enough-password",
            "",
        )
        .await
        .unwrap();
    assert!(resp.totp_enrollment_only);
    let token = resp.tokens.unwrap().access_token;
    refused(
        s.identity()
            .get_tenant(bearer(
                pb::GetTenantRequest {
                    tenant_id: a.tenant_id.clone(),
                },
                &token,
            ))
            .await,
        Code::PermissionDenied,
        "only good for turning on two-factor",
    );
    // Codes of the identity clock's time; the sign-in needs the next step's.
    let clock_now = u64::try_from(clock.now().timestamp()).unwrap();
    let begun = s
        .identity()
        .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &token))
        .await
        .unwrap()
        .into_inner();
    s.identity()
        .confirm_totp_enrollment(bearer(
            pb::ConfirmTotpEnrollmentRequest {
                code: totp_at(&begun.secret, clock_now),
            },
            &token,
        ))
        .await
        .unwrap();
    let full = s
        .sign_in_response(
            &a.tenant_id,
            "late@integra.example",
            "long-enough-password",
            &totp_at(&begun.secret, clock_now + 30),
        )
        .await
        .unwrap();
    assert!(!full.totp_enrollment_only);
    s.identity()
        .get_tenant(bearer(
            pb::GetTenantRequest {
                tenant_id: a.tenant_id.clone(),
            },
            &full.tokens.unwrap().access_token,
        ))
        .await
        .unwrap();
    assert!(
        authorize(
            &s,
            &a.admin_token,
            &a.tenant_id,
            &u.user_id,
            "crm.deal",
            "read"
        )
        .await
        .allowed
    );
}

#[tokio::test]
async fn support_agents_and_service_accounts_are_made_by_the_operator() {
    let s = suite().await;
    let op = s.operator_token().await;
    let a = s.create_tenant("A", 3).await;
    let agent_req = |email: &str| pb::CreateSupportAgentRequest {
        request_id: rid(),
        email: email.into(),
        display_name: "Alice".into(),
        password: "long-enough-password".into(),
    };
    refused(
        s.identity()
            .create_support_agent(bearer(agent_req("al@vendor.example"), &a.admin_token))
            .await,
        Code::PermissionDenied,
        "operator",
    );
    refused(
        s.identity()
            .create_support_agent(anon(agent_req("al@vendor.example")))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        s.identity()
            .create_support_agent(bearer(agent_req("nope"), &op))
            .await,
        Code::InvalidArgument,
        "e-mail",
    );
    let r = s
        .identity()
        .create_support_agent(bearer(agent_req("al@vendor.example"), &op))
        .await
        .unwrap()
        .into_inner();
    let u = r.user.unwrap();
    assert!(u.totp_enabled && u.tenant_id.is_empty());
    assert!(r.otpauth_uri.contains(&r.totp_secret));
    refused(
        s.identity()
            .create_support_agent(bearer(agent_req("al@vendor.example"), &op))
            .await,
        Code::AlreadyExists,
        "already exists",
    );

    let sa = |scopes: Vec<&str>, tok: &str| {
        call!(
            s,
            create_service_account,
            bearer(
                pb::CreateServiceAccountRequest {
                    request_id: rid(),
                    name: "helpdesk".into(),
                    scopes: scopes.into_iter().map(String::from).collect()
                },
                tok,
            )
        )
    };
    refused(
        sa(vec!["broker.helpdesk"], &a.admin_token).await,
        Code::PermissionDenied,
        "operator",
    );
    refused(sa(vec![], &op).await, Code::InvalidArgument, "scope");
    refused(
        sa(vec!["Broker Helpdesk"], &op).await,
        Code::InvalidArgument,
        "scope",
    );
    let created = sa(vec!["broker.helpdesk"], &op).await.unwrap().into_inner();
    assert_eq!(
        created.account.as_ref().unwrap().scopes,
        vec!["broker.helpdesk"]
    );
    assert!(created.client_secret.len() >= 40);
    let list = s
        .identity()
        .list_service_accounts(bearer(pb::ListServiceAccountsRequest::default(), &op))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        list.accounts.len(),
        4,
        "broker, audit, identity's own (for audit) and the new one"
    );
    refused(
        s.identity()
            .list_service_accounts(bearer(
                pb::ListServiceAccountsRequest::default(),
                &a.admin_token,
            ))
            .await,
        Code::PermissionDenied,
        "operator",
    );
}
