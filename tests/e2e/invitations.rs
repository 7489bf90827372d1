//! An integrator invitation end to end: identity's event reaches audit, the
//! invitation e-mail reaches the real SMTP server in the tenant's language,
//! and the token it carries lets the invitee choose a password and sign in.

use keyholder_kit::secret::Secret;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::Suite;
use keyholder_testkit::smtp::{ReceivedMail, SmtpServer};
use std::time::Duration;

/// Identity sending its events to audit (the flows' World starts identity
/// before audit, so its events go nowhere), audit mailing the SMTP server.
async fn wired() -> (Suite, SmtpServer) {
    let smtp = SmtpServer::start().await;
    let mut suite = Suite::new().await;
    suite.config.audit.smtp_url = Some(Secret::new(smtp.url()));
    let audit = suite.audit_down_at();
    suite.start_identity().await;
    suite.start_audit_at(audit).await;
    (suite, smtp)
}

async fn mail_to(smtp: &SmtpServer, to: &str) -> ReceivedMail {
    for _ in 0..150 {
        if let Some(m) = smtp
            .messages()
            .into_iter()
            .find(|m| m.to == vec![to.to_string()])
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {to}");
}

#[tokio::test]
async fn the_invitation_mail_carries_a_token_that_works_once() {
    let (suite, smtp) = wired().await;
    let tenant = suite
        .create_tenant_with_locale("Romashka LLC", 5, identity::Locale::Ru)
        .await;
    let tenant_id = tenant.tenant_id.clone();
    suite
        .register_partner("Integra", &["integra.example"])
        .await;
    suite
        .invite_integrator_as(&tenant_id, &tenant.admin_token, "ivan@integra.example")
        .await
        .unwrap();
    let mail = mail_to(&smtp, "ivan@integra.example").await;
    assert!(
        mail.subject().contains("Romashka LLC"),
        "{}",
        mail.subject()
    );
    let text = mail.body("text/plain").unwrap();
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("Код приглашения: "))
        .expect("a token line")
        .trim()
        .to_string();
    let accept = |password: &str| identity::AcceptInvitationRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        token: token.clone(),
        password: password.into(),
    };
    let user = suite
        .identity()
        .accept_invitation(accept("ivans-own-password"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.kind, identity::PrincipalKind::Integrator as i32);
    suite
        .sign_in(&tenant_id, "ivan@integra.example", "ivans-own-password", "")
        .await;
    let again = suite
        .identity()
        .accept_invitation(accept("someone-elses-password"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
}
