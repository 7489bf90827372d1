//! Retry policy: an outage of the mail server or of identity, however long,
//! delays mail but never loses it; only a permanent rejection ends as FAILED.

use crate::common::*;
use crate::notify::{FlakyContacts, world_with_smtp};
use chrono::Duration;
use keyholder_audit::AuditOptions;
use keyholder_audit::domain::notify::{REJECTED_ATTEMPTS, REJECTED_WINDOW, backoff};
use keyholder_audit::mail::worker::DeliveryReport;
use keyholder_kit::clock::Clock;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::smtp::{SmtpServer, reserve_addr, url_of};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Far more attempts than the old limit of 8, enough to reach the 1 h backoff cap.
const OUTAGE_ATTEMPTS: i32 = 12;

/// Runs `attempts` passes that each fail once, advancing the clock by the
/// backoff after each, and checks nothing is retried early.
async fn fail_repeatedly(w: &World, attempts: i32) {
    for attempt in 1..=attempts {
        let r = w.audit.worker.deliver_once().await.unwrap();
        assert_eq!((r.sent, r.failed), (0, 1), "attempt {attempt}");
        assert_eq!(
            w.audit.worker.deliver_once().await.unwrap(),
            DeliveryReport::default(),
            "retried before the backoff passed, attempt {attempt}"
        );
        w.suite.clock.advance(backoff(attempt));
    }
}

#[tokio::test]
async fn a_long_mail_server_outage_retries_past_eight_attempts_and_delivers_when_back() {
    let addr = reserve_addr();
    let w = world_with_smtp(url_of(addr)).await;
    let queued_at = w.suite.clock.now();
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    fail_repeatedly(&w, OUTAGE_ATTEMPTS - 1).await;
    // The last failure before the server returns: the wait is capped at an hour.
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().failed, 1);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Pending as i32);
    assert_eq!(n.attempts, OUTAGE_ATTEMPTS);
    assert!(
        n.last_error.contains("Connection refused"),
        "{}",
        n.last_error
    );
    assert_eq!(n.create_time.unwrap().seconds, queued_at.timestamp());
    let next = w.suite.clock.now() + Duration::hours(1);
    assert_eq!(n.next_attempt_time.unwrap().seconds, next.timestamp());

    // Hours later the server is back: the mail goes out, exactly once.
    let smtp = SmtpServer::start_on(addr).await;
    w.suite.clock.advance(Duration::hours(1));
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.sent, r.failed), (1, 0));
    w.suite.clock.advance(Duration::days(1));
    assert_eq!(
        w.audit.worker.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![w.tenant.admin_email.clone()]);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Sent as i32);
    assert_eq!(n.attempts, OUTAGE_ATTEMPTS + 1);
    assert_eq!(n.last_error, "");
    assert_eq!(n.next_attempt_time, None);
    assert_eq!(mails[0].header("Message-ID").unwrap().trim(), n.message_id);
}

#[tokio::test]
async fn a_4xx_answer_is_retried_until_the_server_takes_the_mail() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    smtp.defer(&w.tenant.admin_email);
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    fail_repeatedly(&w, OUTAGE_ATTEMPTS).await;
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Pending as i32);
    assert_eq!(n.attempts, OUTAGE_ATTEMPTS);
    assert!(n.last_error.contains("451"), "{}", n.last_error);

    smtp.accept(&w.tenant.admin_email);
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().sent, 1);
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Sent as i32);
}

#[tokio::test]
async fn a_recipient_the_server_rejects_stays_pending_for_a_day_then_fails() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    smtp.reject(&w.tenant.admin_email);
    let queued_at = w.suite.clock.now();
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    // More than the minimum attempts, yet well inside the window: still pending.
    fail_repeatedly(&w, REJECTED_ATTEMPTS + 1).await;
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Pending as i32);
    assert_eq!(n.attempts, REJECTED_ATTEMPTS + 1);
    assert!(n.last_error.contains("550"), "{}", n.last_error);

    // Just before the window closes: another failure, still pending.
    w.suite
        .clock
        .set(queued_at + REJECTED_WINDOW - Duration::minutes(1));
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().failed, 1);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Pending as i32);
    assert!(n.next_attempt_time.is_some());

    // The next attempt falls after the window: given up.
    w.suite.clock.advance(Duration::hours(1));
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().failed, 1);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Failed as i32);
    assert_eq!(n.attempts, REJECTED_ATTEMPTS + 3);
    assert!(n.last_error.contains("550"), "{}", n.last_error);
    assert_eq!(n.next_attempt_time, None);

    // Given up: never tried again, never delivered.
    w.suite.clock.advance(Duration::days(1));
    assert_eq!(
        w.audit.worker.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn a_rejected_recipient_accepted_again_within_the_day_gets_the_mail_once() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    smtp.reject(&w.tenant.admin_email);
    let queued_at = w.suite.clock.now();
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    fail_repeatedly(&w, REJECTED_ATTEMPTS).await;
    w.suite.clock.set(queued_at + Duration::hours(20));
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().failed, 1);

    // The operator fixes the mail server; the next attempt delivers.
    smtp.accept(&w.tenant.admin_email);
    w.suite.clock.advance(Duration::hours(1));
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.sent, r.failed), (1, 0));
    w.suite.clock.advance(Duration::days(2));
    assert_eq!(
        w.audit.worker.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![w.tenant.admin_email.clone()]);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Sent as i32);
    assert_eq!(n.attempts, REJECTED_ATTEMPTS + 2);
}

#[tokio::test]
async fn a_relay_denied_answer_is_transient_and_never_gives_up() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    smtp.deny_relay(&w.tenant.admin_email);
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    fail_repeatedly(&w, OUTAGE_ATTEMPTS).await;
    w.suite.clock.advance(Duration::days(3));
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().failed, 1);
    let n = notifications(&w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Pending as i32);
    assert!(n.last_error.contains("5.7.1"), "{}", n.last_error);

    smtp.accept(&w.tenant.admin_email);
    w.suite.clock.advance(Duration::hours(1));
    assert_eq!(w.audit.worker.deliver_once().await.unwrap().sent, 1);
    assert_eq!(smtp.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn an_address_that_does_not_parse_fails_at_once_and_spares_the_others() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    let mut denied = event(&w.tenant.tenant_id, pb::EventKind::RequestDenied, now());
    denied.agent = Some(actor(
        "agent-x",
        "support_agent",
        "Xavier",
        "xavier at vendor",
    ));
    denied.access_request_id = "req-9".into();
    ingest(&w, vec![denied]).await;

    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.resolved, r.sent, r.failed), (2, 1, 1));
    let listed = notifications(&w).await;
    let bad = listed
        .iter()
        .find(|n| n.recipient == "xavier at vendor")
        .unwrap();
    assert_eq!(bad.state, pb::NotificationState::Failed as i32);
    assert_eq!(bad.attempts, 1);
    assert!(
        bad.last_error.contains("bad recipient address"),
        "{}",
        bad.last_error
    );
    let good = listed
        .iter()
        .find(|n| n.recipient == w.tenant.admin_email)
        .unwrap();
    assert_eq!(good.state, pb::NotificationState::Sent as i32);
    assert_eq!(smtp.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn identity_down_for_hours_delays_the_mail_but_never_drops_it() {
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
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;

    for attempt in 1..=OUTAGE_ATTEMPTS {
        let r = w.audit.worker.deliver_once().await.unwrap();
        assert_eq!((r.resolved, r.unresolved), (0, 1), "attempt {attempt}");
        assert_eq!(
            w.audit.worker.deliver_once().await.unwrap(),
            DeliveryReport::default()
        );
        w.suite.clock.advance(backoff(attempt));
    }
    assert!(notifications(&w).await.is_empty());

    flaky.up.store(true, Ordering::SeqCst);
    let r = w.audit.worker.deliver_once().await.unwrap();
    assert_eq!((r.resolved, r.sent), (1, 1));
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["chief@customer.example".to_string()]);
}
