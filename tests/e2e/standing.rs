//! Standing mode (Vtiger's toggle): support may enter while it is on, still
//! with a reason, still on the record, and the chief admin is still told.

use crate::flows::World;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use tonic::Code;

#[tokio::test]
async fn standing_mode_lets_the_agent_in_with_a_reason_and_tells_the_chief_admin() {
    let w = World::start("Initech", identity::Locale::En).await;
    w.set_mode(broker::SupportAccessMode::Standing).await;

    let reason = "checking the mail-integration settings";
    let signed_in = w.sign_in("", reason).await.expect("standing sign-in");
    let session = signed_in.session.unwrap();
    assert_eq!(session.granted_by, w.tenant.chief_admin_id);

    let mail = w.mail_to(&w.tenant.admin_email, reason).await;
    let text = mail.body("text/plain").unwrap();
    assert!(
        text.contains("Ivan Petrov") && text.contains("Initech"),
        "{text}"
    );

    // Standing scope is read-only by default.
    assert!(
        w.check(&signed_in.access_token, "crm.deal", "read")
            .await
            .allowed
    );
    assert!(
        !w.check(&signed_in.access_token, "crm.deal", "change")
            .await
            .allowed
    );

    // Turning it off closes the door again.
    w.set_mode(broker::SupportAccessMode::Closed).await;
    let err = w
        .sign_in("", "one more look at the settings")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let history = w
        .login_history_until(|h| h.iter().any(|e| e.session_id == session.session_id))
        .await;
    let entry = history
        .iter()
        .find(|e| e.session_id == session.session_id)
        .unwrap();
    assert_eq!(entry.reason, reason);
    assert_eq!(
        entry.granted_by.as_ref().unwrap().actor_id,
        w.tenant.chief_admin_id
    );
}
