//! Notifications: a real SMTP server receives the mail, in the tenant's
//! language; a mail server outage delays mail but never loses or doubles it.

use crate::common::*;
use async_trait::async_trait;
use keyholder_audit::AuditOptions;
use keyholder_audit::contacts::{Contact, ContactSource, ContactsError, TenantContacts};
use keyholder_audit::domain::templates::Locale;
use keyholder_audit::mail::worker::DeliveryReport;
use keyholder_proto::audit::v1 as pb;
use keyholder_proto::identity::v1 as id;
use keyholder_testkit::smtp::{SmtpServer, reserve_addr, url_of};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn manual() -> AuditOptions {
    AuditOptions {
        manual_mail: true,
        ..AuditOptions::default()
    }
}

pub async fn world_with_smtp(url: String) -> World {
    world_with(
        move |s| s.config.audit.smtp_url = Some(keyholder_kit::secret::Secret::new(url)),
        manual(),
    )
    .await
}

#[tokio::test]
async fn a_support_sign_in_mails_the_chief_admin_in_english() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    let e = sign_in(&w.tenant.tenant_id, now(), "sess-1");
    ingest(&w, vec![e]).await;

    let report = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((report.resolved, report.sent, report.failed), (1, 1, 0));
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to, vec![w.tenant.admin_email.clone()]);
    assert_eq!(m.mimetype(), "multipart/alternative");
    let subject = m.subject();
    for needle in ["Ann Agent", "Acme Trading", "HD-4711"] {
        assert!(
            subject.contains(needle),
            "{needle} not in subject {subject}"
        );
    }
    let text = m.body("text/plain").unwrap();
    for needle in [
        "Ann Agent",
        "Acme Trading",
        "Reason for signing in: customer cannot import leads",
        "Ticket: HD-4711",
        "Access granted by: Carl Chief",
        "Settings → Support access → Revoke (grant grant-1)",
    ] {
        assert!(text.contains(needle), "{needle} not in body:\n{text}");
    }
    let html = m.body("text/html").unwrap();
    assert!(html.contains("customer cannot import leads"));

    // The Message-ID names the notification, which is SENT after one attempt.
    let listed = notifications(&w).await;
    assert_eq!(listed.len(), 1);
    let n = &listed[0];
    assert_eq!(n.state, pb::NotificationState::Sent as i32);
    assert_eq!(n.attempts, 1);
    assert_eq!(n.recipient, w.tenant.admin_email);
    assert_eq!(n.message_id, format!("<{}@keyholder>", n.notification_id));
    assert_eq!(m.header("Message-ID").unwrap().trim(), n.message_id);

    // Nothing more to do, nothing sent twice.
    assert_eq!(
        w.audit.worker.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn a_russian_tenant_gets_russian_mail() {
    let smtp = SmtpServer::start().await;
    let mut w = world_with_smtp(smtp.url()).await;
    w.tenant = w
        .suite
        .create_tenant_with_locale("Ромашка", 10, id::Locale::Ru)
        .await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;
    w.audit.worker.deliver_once().await.unwrap();
    let mails = smtp.wait_for(1).await;
    let m = &mails[0];
    assert_eq!(m.to, vec![w.tenant.admin_email.clone()]);
    let subject = m.subject();
    assert!(
        subject.starts_with("Вход техподдержки в Ромашка: Ann Agent"),
        "{subject}"
    );
    assert!(subject.contains("HD-4711"), "{subject}");
    let text = m.body("text/plain").unwrap();
    for needle in [
        "Специалист техподдержки Ann Agent",
        "Ромашка",
        "Причина входа: customer cannot import leads",
        "Обращение: HD-4711",
        "Доступ предоставил: Carl Chief",
        "Настройки → Доступ техподдержки → Отозвать",
    ] {
        assert!(text.contains(needle), "{needle} not in body:\n{text}");
    }
}

#[tokio::test]
async fn mail_sent_while_the_server_was_down_arrives_once_it_is_back_exactly_once() {
    let addr = reserve_addr();
    let w = world_with_smtp(url_of(addr)).await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    // Server down: the attempt fails and is scheduled again.
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Pending as i32);
    assert_eq!(n.attempts, 1);
    assert!(!n.last_error.is_empty());

    // Back up, but the backoff has not passed yet: nothing is sent early.
    let smtp = SmtpServer::start_on(addr).await;
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!(r.sent, 0);
    assert!(smtp.messages().is_empty());

    w.suite.clock.advance(chrono::Duration::seconds(15));
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!(r.sent, 1);
    w.suite.clock.advance(chrono::Duration::hours(1));
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().sent, 0);

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![w.tenant.admin_email.clone()]);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Sent as i32);
    assert_eq!(n.attempts, 2);
    assert_eq!(mails[0].header("Message-ID").unwrap().trim(), n.message_id);
}

/// Contacts that fail until switched on (identity down at ingest time).
pub struct FlakyContacts {
    pub up: AtomicBool,
}

#[async_trait]
impl ContactSource for FlakyContacts {
    async fn contacts(&self, _tenant_id: &str) -> Result<TenantContacts, ContactsError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(ContactsError::Unavailable("identity unreachable".into()));
        }
        Ok(TenantContacts {
            tenant_name: "Acme Trading".into(),
            locale: Locale::En,
            chief_admin: Some(Contact {
                email: "chief@customer.example".into(),
                name: "Carl Chief".into(),
            }),
            admins: vec![
                Contact {
                    email: "chief@customer.example".into(),
                    name: "Carl Chief".into(),
                },
                Contact {
                    email: "second@customer.example".into(),
                    name: "Second Admin".into(),
                },
            ],
        })
    }
}

#[tokio::test]
async fn identity_down_never_refuses_an_event_and_mail_follows_later() {
    let smtp = SmtpServer::start().await;
    let flaky = Arc::new(FlakyContacts {
        up: AtomicBool::new(false),
    });
    let url = smtp.url();
    let w = world_with(
        move |s| s.config.audit.smtp_url = Some(keyholder_kit::secret::Secret::new(url)),
        AuditOptions {
            manual_mail: true,
            contacts: Some(flaky.clone()),
            ..AuditOptions::default()
        },
    )
    .await;
    let t = &w.tenant.tenant_id;
    let mut approved = event(t, pb::EventKind::RequestApproved, now());
    approved.agent = Some(agent_ann());
    approved.actor = Some(actor(
        "admin-1",
        "employee",
        "Carl Chief",
        "chief@customer.example",
    ));
    approved.access_request_id = "req-7".into();
    approved.grant_id = "grant-7".into();
    approved.ticket_ref = "HD-7".into();
    approved.reason = "reset the pipeline".into();
    let r = ingest(&w, vec![approved]).await;
    assert_eq!(r.accepted, 1);

    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.resolved, r.unresolved, r.sent), (0, 2, 0));
    assert!(notifications(&w).await.is_empty());

    flaky.up.store(true, Ordering::SeqCst);
    w.suite.clock.advance(chrono::Duration::seconds(15));
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.resolved, r.sent), (2, 3));
    let mails = smtp.wait_for(3).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            "ann@vendor.example",
            "chief@customer.example",
            "second@customer.example"
        ]
    );
    let agent_mail = mails
        .iter()
        .find(|m| m.to[0] == "ann@vendor.example")
        .unwrap();
    assert!(
        agent_mail
            .subject()
            .starts_with("Your access request for Acme Trading was approved")
    );
    let admin_mail = mails
        .iter()
        .find(|m| m.to[0] == "second@customer.example")
        .unwrap();
    assert!(
        admin_mail.subject().contains("approved for Ann Agent"),
        "{}",
        admin_mail.subject()
    );
    assert!(
        admin_mail
            .body("text/plain")
            .unwrap()
            .contains("Approved by: Carl Chief")
    );
}

#[tokio::test]
async fn without_an_smtp_url_mail_lands_in_the_mail_folder() {
    let w = world().await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().sent, 1);
    let dir = w.suite.config.data_dir.join("mail");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains(&w.tenant.admin_email));
}

#[tokio::test]
async fn the_background_mailer_sends_within_seconds() {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let w = world_with(
        move |s| s.config.audit.smtp_url = Some(keyholder_kit::secret::Secret::new(url)),
        AuditOptions::default(),
    )
    .await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;
    // Woken by the ingest itself; wait_for fails the test after 20 s.
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec![w.tenant.admin_email.clone()]);
}

#[tokio::test]
async fn two_replicas_never_send_one_mail_twice() {
    use keyholder_audit::contacts::IdentityContacts;
    use keyholder_audit::mail::SmtpMailer;
    use keyholder_audit::mail::worker::MailWorker;
    use keyholder_kit::config::ServiceName;

    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    let evs = (0..5)
        .map(|i| sign_in(&w.tenant.tenant_id, now(), &format!("sess-{i}")))
        .collect();
    ingest(&w, evs).await;
    let other = MailWorker::new(
        w.audit.store.clone(),
        Arc::new(
            IdentityContacts::new(
                &w.suite.config.identity.url,
                &w.suite.config.tls,
                w.suite.config.credentials_file(ServiceName::Audit),
                std::time::Duration::from_secs(w.suite.config.audit.contacts_cache_secs),
                w.suite.clock.clone(),
            )
            .unwrap(),
        ),
        Arc::new(SmtpMailer::from_url(&smtp.url()).unwrap()),
        "Keyholder <keyholder@localhost>".into(),
    );
    let (a, b) = tokio::join!(w.audit.worker.deliver_once(), other.deliver_once());
    let (a, b) = (a.unwrap(), b.unwrap());
    // Whatever the interleaving, a second pass finishes the rest.
    let c = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!(a.sent + b.sent + c.sent, 5);
    let mails = smtp.wait_for(5).await;
    assert_eq!(mails.len(), 5);
    let mut ids: Vec<String> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn an_event_for_a_tenant_identity_does_not_know_is_kept_and_its_mail_dropped() {
    let w = world().await;
    let ghost = uuid::Uuid::new_v4().to_string();
    let r = ingest(&w, vec![sign_in(&ghost, now(), "sess-1")]).await;
    assert_eq!(r.accepted, 1);
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.resolved, r.unresolved), (0, 1));
    // Given up at once: no retries later.
    w.suite.clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        w.audit.worker.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
}
