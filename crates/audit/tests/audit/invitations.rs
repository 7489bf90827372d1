//! Integrator invitations: the e-mail reaches the invitee in the tenant's
//! language with the acceptance token, while the logged event never holds it.

use crate::common::*;
use crate::notify::world_with_smtp;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::bearer;
use keyholder_testkit::smtp::SmtpServer;

const TOKEN: &str = "x7Kq9-invitation-token-of-43-characters-abc";

fn invited(tenant: &str, email: &str, locale: &str) -> pb::Event {
    let at = now();
    let mut e = pb::Event {
        actor: Some(actor(
            "u-carl",
            "employee",
            "Carl Chief",
            "carl@acme.example",
        )),
        source: "identity".into(),
        expire_time: Some(ts(at + chrono::Duration::days(7))),
        invitation_token: TOKEN.into(),
        ..event(tenant, pb::EventKind::IntegratorInvited, at)
    };
    for (k, v) in [
        ("change", "integrator_invited"),
        ("email", email),
        ("display_name", "Ivan"),
        ("tenant_name", "Acme Trading"),
        ("partner_name", "Integra"),
        ("locale", locale),
    ] {
        e.attributes.insert(k.into(), v.into());
    }
    e
}

#[tokio::test]
async fn the_invitee_gets_the_token_by_mail_and_the_log_never_holds_it() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    let tenant = w.tenant.tenant_id.clone();
    let en = invited(&tenant, "ivan@integra.example", "en");
    let ru = invited(&tenant, "olga@integra.example", "ru");
    let ids = [en.event_id.clone(), ru.event_id.clone()];
    let out = ingest(&w, vec![en, ru]).await;
    assert_eq!(out.accepted, 2);

    let report = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((report.resolved, report.sent, report.failed), (0, 2, 0));
    let mails = smtp.wait_for(2).await;
    let to = |who: &str| {
        mails
            .iter()
            .find(|m| m.to == vec![who.to_string()])
            .unwrap_or_else(|| panic!("no mail to {who}"))
    };
    let m = to("ivan@integra.example");
    assert_eq!(
        m.subject(),
        "Carl Chief invites you to Acme Trading as an integrator"
    );
    let text = m.body("text/plain").unwrap();
    assert!(
        text.contains(&format!("Acceptance token: {TOKEN}")),
        "{text}"
    );
    assert!(text.contains("integrator of Integra"), "{text}");
    assert!(m.body("text/html").unwrap().contains(TOKEN));
    let m = to("olga@integra.example");
    assert!(
        m.subject()
            .starts_with("Carl Chief приглашает вас в Acme Trading")
    );
    let text = m.body("text/plain").unwrap();
    assert!(
        text.contains(&format!("Код приглашения: {TOKEN}")),
        "{text}"
    );

    // The log: the events are there, the token is not (nor in the stored
    // canonical content the chain hashes).
    let listed = w
        .suite
        .audit()
        .list_events(bearer(
            pb::ListEventsRequest {
                tenant_id: tenant.clone(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let invitations: Vec<_> = listed
        .iter()
        .filter_map(|r| r.event.as_ref())
        .filter(|e| e.kind == pb::EventKind::IntegratorInvited as i32)
        .collect();
    assert_eq!(invitations.len(), 2);
    assert!(invitations.iter().all(|e| e.invitation_token.is_empty()));
    assert!(!format!("{listed:?}").contains(TOKEN));
    for id in &ids {
        let row = w.audit.store.event(id).await.unwrap().unwrap();
        assert!(!row.content.contains(TOKEN));
    }
    assert!(verify(&w, &tenant, &w.tenant.admin_token).await.intact);
    // The notification list names the invitee, never the token.
    let notes = notifications(&w).await;
    assert_eq!(notes.len(), 2);
    assert!(!format!("{notes:?}").contains(TOKEN));
    // Once sent, the stored copies no longer hold it either.
    let stored = w
        .audit
        .store
        .list_notifications(&tenant, keyholder_kit::paging::Page::parse(10, "").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for n in &stored {
        assert_eq!(n.state, "sent");
        assert!(!n.body_text.contains(TOKEN) && !n.body_html.contains(TOKEN));
        assert_eq!(n.body_text, keyholder_audit::store::outbox::SENT_INVITATION);
    }
}

#[tokio::test]
async fn only_an_invitation_may_carry_a_token() {
    let w = world().await;
    let mut e = sign_in(&w.tenant.tenant_id, now(), "sess-1");
    e.invitation_token = TOKEN.into();
    let refused = w
        .suite
        .audit()
        .ingest_events(bearer(
            pb::IngestEventsRequest { events: vec![e] },
            &w.producer,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("only for INTEGRATOR_INVITED"));
}
