//! A mailer that dies mid-send: restarted on the same data dir it sends the
//! interrupted e-mail at once (not after a lease); a peer takes it only once
//! the short lease, renewed while the sender lived, has run out. Either way
//! the recipient gets it once, or twice when the server already had it.

use crate::common::*;
use crate::notify::world_with_smtp;
use keyholder_audit::mail::worker::{DeliveryReport, LEASE, MailWorker};
use keyholder_audit::store::entities::notification;
use keyholder_kit::clock::Clock;
use keyholder_kit::secret::Secret;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::Suite;
use keyholder_testkit::audit::AuditCrash;
use keyholder_testkit::smtp::{Hold, SmtpServer};
use sea_orm::EntityTrait;
use std::time::{Duration, Instant};

/// How soon a restarted audit must have sent the reclaimed e-mail: its first
/// pass runs at start, so this is slack for a slow CI machine, far below
/// the lease and a world away from the old five minutes.
const RESTART_DELIVERY: Duration = Duration::from_secs(5);

/// Identity and an audit with its background mailer sending to `smtp`.
async fn crashable_world(smtp: &SmtpServer) -> (World, AuditCrash) {
    let mut suite = Suite::new().await;
    suite.start_identity().await;
    suite.config.audit.smtp_url = Some(Secret::new(smtp.url()));
    let (audit, crash) = suite.start_audit_crashable().await;
    let tenant = suite.create_tenant("Acme Trading", 10).await;
    let (_, producer) = suite
        .create_service_account("broker-test", &["audit.events.write"])
        .await;
    let w = World {
        suite,
        audit,
        tenant,
        producer,
    };
    (w, crash)
}

async fn the_only_row(w: &World) -> notification::Model {
    let mut rows = notification::Entity::find()
        .all(w.audit.store.connection())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

/// Sends a sign-in's mail, crashes audit while the server holds the session
/// at `hold`, and restarts audit on the same database and data dir. Returns
/// the world (now with the new audit) and how long the restart took to
/// deliver `expect` messages in all.
async fn crash_mid_send_and_restart(
    smtp: &SmtpServer,
    hold: Hold,
    expect: usize,
) -> (World, Duration) {
    smtp.hold(hold);
    let (mut w, crash) = crashable_world(smtp).await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;
    smtp.wait_stalled(1).await;

    // Mid-send: the e-mail is claimed by the dying worker, for a lease that
    // by the (unmoving) test clock has most of its 30 s ahead.
    let row = the_only_row(&w).await;
    let owner = w.audit.worker.owner().to_string();
    assert_eq!(row.state, "pending");
    assert_eq!(row.lease_owner, owner);
    assert_eq!(
        row.lease_until_us,
        (w.suite.clock.now() + LEASE).timestamp_micros()
    );

    crash.crash().await;
    smtp.release();
    assert_eq!(the_only_row(&w).await.lease_until_us, row.lease_until_us);

    let restarted = Instant::now();
    w.audit = w.suite.start_audit().await;
    assert_eq!(w.audit.worker.owner(), owner);
    tokio::time::timeout(RESTART_DELIVERY, smtp.wait_for(expect))
        .await
        .unwrap_or_else(|_| panic!("no delivery within {RESTART_DELIVERY:?} of the restart"));
    let took = restarted.elapsed();
    (w, took)
}

/// After the restart's delivery: SENT after one recorded attempt, and a day
/// later nothing more goes out.
async fn delivered_for_good(w: &World, smtp: &SmtpServer, total: usize) {
    let n = notifications(w).await.remove(0);
    assert_eq!(n.state, pb::NotificationState::Sent as i32);
    assert_eq!(n.attempts, 1);
    w.suite.clock.advance(chrono::Duration::days(1));
    assert_eq!(
        w.audit.worker.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), total);
    for m in &mails {
        assert_eq!(m.to, vec![w.tenant.admin_email.clone()]);
        assert_eq!(m.header("Message-ID").unwrap().trim(), n.message_id);
    }
}

#[tokio::test]
async fn a_restart_sends_the_mail_a_crash_interrupted_at_once_and_once() {
    let smtp = SmtpServer::start().await;
    // Killed while waiting for the server's greeting: nothing reached it.
    let (w, took) = crash_mid_send_and_restart(&smtp, Hold::Greeting, 1).await;
    assert!(took < RESTART_DELIVERY, "{took:?}");
    delivered_for_good(&w, &smtp, 1).await;
}

#[tokio::test]
async fn a_crash_after_the_server_took_the_mail_costs_one_duplicate_at_most() {
    let smtp = SmtpServer::start().await;
    // Killed after the server stored the message but before its 250: the
    // restart cannot know, so it sends again, under the same Message-ID.
    let (w, took) = crash_mid_send_and_restart(&smtp, Hold::Acknowledgement, 2).await;
    assert!(took < RESTART_DELIVERY, "{took:?}");
    delivered_for_good(&w, &smtp, 2).await;
}

#[tokio::test]
async fn a_peer_takes_a_dead_senders_mail_only_once_its_renewed_lease_ran_out() {
    use keyholder_audit::contacts::IdentityContacts;
    use keyholder_audit::mail::SmtpMailer;
    use keyholder_kit::config::ServiceName;

    let smtp = SmtpServer::start().await;
    smtp.hold(Hold::Greeting);
    let w = world_with_smtp(smtp.url()).await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;
    let sender = w
        .audit
        .worker
        .clone()
        .with_renewal(Duration::from_millis(20));
    let peer = MailWorker::new(
        w.audit.store.clone(),
        std::sync::Arc::new(
            IdentityContacts::new(
                &w.suite.config.identity.url,
                &w.suite.config.tls,
                w.suite.config.credentials_file(ServiceName::Audit),
                std::time::Duration::from_secs(w.suite.config.audit.contacts_cache_secs),
                w.suite.clock.clone(),
            )
            .unwrap(),
        ),
        std::sync::Arc::new(SmtpMailer::from_url(&smtp.url()).unwrap()),
        "Keyholder <keyholder@localhost>".into(),
    );
    let sending = tokio::spawn(async move { sender.deliver_once().await });
    smtp.wait_stalled(1).await;

    // The sender lives on past its first lease, renewing it.
    for _ in 0..3 {
        w.suite.clock.advance(chrono::Duration::seconds(20));
        let renewed = (w.suite.clock.now() + LEASE).timestamp_micros();
        let deadline = Instant::now() + Duration::from_secs(5);
        // Waits for the next renewal (every 20 ms), bounded.
        while the_only_row(&w).await.lease_until_us != renewed {
            assert!(Instant::now() < deadline, "lease not renewed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            peer.deliver_once().await.unwrap(),
            DeliveryReport::default()
        );
    }

    // The sender dies; its id is in no data dir a restart could inherit.
    sending.abort();
    assert!(sending.await.unwrap_err().is_cancelled());
    smtp.release();
    w.suite.clock.advance(LEASE - chrono::Duration::seconds(1));
    assert_eq!(
        peer.deliver_once().await.unwrap(),
        DeliveryReport::default()
    );
    w.suite.clock.advance(chrono::Duration::seconds(2));
    let r = peer.deliver_once().await.unwrap();
    assert_eq!((r.sent, r.failed), (1, 0));
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    let row = the_only_row(&w).await;
    assert_eq!((row.state.as_str(), row.attempts), ("sent", 1));
    assert_eq!(row.lease_owner, peer.owner());
}

#[tokio::test]
async fn a_sender_that_lost_its_claim_drops_the_send() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};

    let smtp = SmtpServer::start().await;
    smtp.hold(Hold::Greeting);
    let w = world_with_smtp(smtp.url()).await;
    ingest(&w, vec![sign_in(&w.tenant.tenant_id, now(), "sess-1")]).await;
    let sender = w
        .audit
        .worker
        .clone()
        .with_renewal(Duration::from_millis(20));
    let sending = tokio::spawn(async move { sender.deliver_once().await });
    smtp.wait_stalled(1).await;

    // As if the sender had stalled past its lease and a peer had taken it.
    let row = the_only_row(&w).await;
    notification::Entity::update_many()
        .col_expr(notification::Column::LeaseOwner, Expr::value("a-peer"))
        .filter(notification::Column::NotificationId.eq(row.notification_id.as_str()))
        .exec(w.audit.store.connection())
        .await
        .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .expect("the send is dropped at the next renewal")
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            resolved: 1,
            ..DeliveryReport::default()
        }
    );
    smtp.release();
    assert!(smtp.messages().is_empty());
    let row = the_only_row(&w).await;
    assert_eq!(
        (row.state.as_str(), row.attempts, row.lease_owner.as_str()),
        ("pending", 0, "a-peer")
    );
}
