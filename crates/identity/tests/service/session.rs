//! SignIn, TOTP enrolment, agents' mandatory TOTP, service tokens. (Failed
//! sign-ins slow down: `throttle`.)

use crate::*;
use keyholder_kit::clock::ManualClock;

fn amr_of(token: &str) -> Vec<String> {
    use base64::Engine;
    let body = token.split('.').nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap(),
    )
    .unwrap();
    v["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn sign_in_and_its_refusals() {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    let t = s.create_tenant("Acme", 3).await;
    let ok = s
        .sign_in_response(&t.tenant_id, &t.admin_email, &t.admin_password, "")
        .await
        .unwrap();
    assert!(ok.user.as_ref().unwrap().chief_admin);
    assert_eq!(amr_of(&ok.tokens.unwrap().access_token), vec!["pwd"]);
    refused(
        s.sign_in_response(&t.tenant_id, "nobody@acme.example", "whatever-password", "")
            .await,
        Code::Unauthenticated,
        "wrong e-mail, password or code",
    );
    refused(
        s.sign_in_response("", &t.admin_email, &t.admin_password, "")
            .await,
        Code::Unauthenticated,
        "wrong e-mail",
    );
    refused(
        s.sign_in_response(&t.tenant_id, &t.admin_email, "wrong-password-123", "")
            .await,
        Code::Unauthenticated,
        "wrong e-mail",
    );
    // A failed guess or two lock nobody out.
    s.sign_in_response(&t.tenant_id, &t.admin_email, &t.admin_password, "")
        .await
        .unwrap();
}

#[tokio::test]
async fn totp_enrolment_then_the_code_is_required() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 3).await;
    let e = s.create_employee(&t, "bob@acme.example", false).await;
    refused(
        s.identity()
            .begin_totp_enrollment(anon(pb::BeginTotpEnrollmentRequest {}))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        s.identity()
            .confirm_totp_enrollment(bearer(
                pb::ConfirmTotpEnrollmentRequest {
                    code: "123456".into(),
                },
                &e.token,
            ))
            .await,
        Code::FailedPrecondition,
        "begintotpenrollment",
    );
    let begun = s
        .identity()
        .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &e.token))
        .await
        .unwrap()
        .into_inner();
    assert!(
        begun
            .otpauth_uri
            .starts_with("otpauth://totp/Keyholder:bob%40acme.example?secret=")
    );
    refused(
        s.identity()
            .confirm_totp_enrollment(bearer(
                pb::ConfirmTotpEnrollmentRequest {
                    code: "000000x".into(),
                },
                &e.token,
            ))
            .await,
        Code::InvalidArgument,
        "not valid",
    );
    let user = s
        .identity()
        .confirm_totp_enrollment(bearer(
            pb::ConfirmTotpEnrollmentRequest {
                code: s.totp(&begun.secret),
            },
            &e.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(user.totp_enabled);
    refused(
        s.identity()
            .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &e.token))
            .await,
        Code::FailedPrecondition,
        "already on",
    );
    refused(
        s.sign_in_response(&t.tenant_id, &e.email, &e.password, "")
            .await,
        Code::Unauthenticated,
        "totp code is required",
    );
    let ok = s
        .sign_in_response(
            &t.tenant_id,
            &e.email,
            &e.password,
            &s.next_totp(&begun.secret),
        )
        .await
        .unwrap();
    assert_eq!(amr_of(&ok.tokens.unwrap().access_token), vec!["pwd", "otp"]);
}

#[tokio::test]
async fn agents_must_sign_in_with_totp() {
    let s = suite().await;
    let a = s.create_agent("Alice").await;
    assert_eq!(amr_of(&a.token), vec!["pwd", "otp"]);
    refused(
        s.sign_in_response("", &a.email, &a.password, "").await,
        Code::Unauthenticated,
        "totp code is required",
    );
    refused(
        s.sign_in_response("", &a.email, &a.password, "999999")
            .await,
        Code::Unauthenticated,
        "wrong e-mail, password or code",
    );
    let ok = s
        .sign_in_response("", &a.email, &a.password, &s.next_totp(&a.totp_secret))
        .await
        .unwrap();
    let u = ok.user.unwrap();
    assert!(u.tenant_id.is_empty());
    assert_eq!(u.kind, pb::PrincipalKind::SupportAgent as i32);
}

#[tokio::test]
async fn disable_totp_is_for_admin_employees_of_the_tenant() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 5).await;
    let other = s.create_tenant("Other", 5).await;
    let e = s.create_employee(&t, "bob@acme.example", false).await;
    let begun = s
        .identity()
        .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &e.token))
        .await
        .unwrap()
        .into_inner();
    s.identity()
        .confirm_totp_enrollment(bearer(
            pb::ConfirmTotpEnrollmentRequest {
                code: s.totp(&begun.secret),
            },
            &e.token,
        ))
        .await
        .unwrap();
    let req = |id: &str| pb::DisableTotpRequest {
        request_id: rid(),
        user_id: id.into(),
    };
    refused(
        s.identity().disable_totp(anon(req(&e.user_id))).await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        s.identity()
            .disable_totp(bearer(req(&e.user_id), &e.token))
            .await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        s.identity()
            .disable_totp(bearer(req(&e.user_id), &other.admin_token))
            .await,
        Code::NotFound,
        "not found",
    );
    refused(
        s.identity()
            .disable_totp(bearer(req(""), &t.admin_token))
            .await,
        Code::InvalidArgument,
        "user_id",
    );
    s.register_partner("Partner", &["partner.example"]).await;
    let integ = s.invite_integrator(&t, "ivan@partner.example").await;
    refused(
        s.identity()
            .disable_totp(bearer(req(&e.user_id), &integ.token))
            .await,
        Code::PermissionDenied,
        "integrators",
    );
    let u = s
        .identity()
        .disable_totp(bearer(req(&e.user_id), &t.admin_token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!u.totp_enabled);
    s.sign_in_response(&t.tenant_id, &e.email, &e.password, "")
        .await
        .unwrap();
}

#[tokio::test]
async fn service_tokens_need_the_right_secret_and_carry_scopes() {
    let s = suite().await;
    let (creds, token) = s
        .create_service_account("crm", &["broker.check_access"])
        .await;
    assert!(!token.is_empty());
    refused(
        s.identity()
            .issue_service_token(pb::IssueServiceTokenRequest {
                client_id: creds.client_id.clone(),
                client_secret: "wrong".into(),
            })
            .await,
        Code::Unauthenticated,
        "wrong client id or secret",
    );
    refused(
        s.identity()
            .issue_service_token(pb::IssueServiceTokenRequest {
                client_id: "nope".into(),
                client_secret: creds.client_secret.clone(),
            })
            .await,
        Code::Unauthenticated,
        "wrong client id or secret",
    );
    // A token for the broker only is not accepted by identity at all.
    let t = s.create_tenant("Acme", 2).await;
    refused(
        s.identity()
            .get_tenant_contacts(bearer(
                pb::GetTenantContactsRequest {
                    tenant_id: t.tenant_id,
                },
                &token,
            ))
            .await,
        Code::Unauthenticated,
        "audience",
    );
}
