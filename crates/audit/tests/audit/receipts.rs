//! The chief admin's sign-in e-mail carries a receipt (the event's place in
//! the chain and the hash there); `VerifyReceipt` accepts it while the log
//! holds that event and everything before it, and refuses it once rewritten.

use crate::common::*;
use crate::notify::world_with_smtp;
use crate::witness::rewrite_and_rehash;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::bearer;
use keyholder_testkit::smtp::SmtpServer;

async fn check(
    w: &World,
    token: &str,
    sequence: i64,
    hash: &str,
) -> Result<pb::VerifyReceiptResponse, tonic::Status> {
    w.suite
        .audit()
        .verify_receipt(bearer(
            pb::VerifyReceiptRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                sequence,
                hash: hash.into(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

fn actions(tenant: &str, n: usize) -> Vec<pb::Event> {
    (0..n)
        .map(|i| {
            let mut e = event(tenant, pb::EventKind::Action, now());
            e.reason = format!("action {i}");
            e
        })
        .collect()
}

#[tokio::test]
async fn a_receipt_from_a_sign_in_mail_verifies_and_fails_after_tampering() {
    let smtp = SmtpServer::start().await;
    let w = world_with_smtp(smtp.url()).await;
    let t = w.tenant.tenant_id.clone();
    ingest(&w, actions(&t, 2)).await;
    ingest(&w, vec![sign_in(&t, now(), "sess-1")]).await;
    w.audit.worker.deliver_once().await.unwrap();
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec![w.tenant.admin_email.clone()]);
    let text = mails[0].body("text/plain").unwrap();
    let receipt = text
        .lines()
        .find_map(|l| l.strip_prefix("Audit receipt: event "))
        .unwrap_or_else(|| panic!("no receipt in:\n{text}"));
    let (sequence, hash) = receipt.split_once(", hash ").unwrap();
    let sequence: i64 = sequence.parse().unwrap();
    assert_eq!(sequence, 3);
    let row = w.audit.store.chain_rows(&t, 2, 1).await.unwrap();
    assert_eq!(hash, row[0].hash);

    // Later events do not touch an earlier receipt.
    ingest(&w, actions(&t, 2)).await;
    let ok = check(&w, &w.tenant.admin_token, sequence, hash)
        .await
        .unwrap();
    assert_eq!(
        (ok.valid, ok.first_broken_sequence, ok.problem.as_str()),
        (true, 0, "")
    );

    // A receipt the log never issued does not hold.
    let other = "0".repeat(64);
    let bad = check(&w, &w.tenant.admin_token, sequence, &other)
        .await
        .unwrap();
    assert_eq!((bad.valid, bad.first_broken_sequence), (false, 3));

    // Refusals: bad input, and a caller who is not the tenant's admin.
    let e = check(&w, &w.tenant.admin_token, 0, hash).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = check(&w, &w.tenant.admin_token, sequence, "nothex")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let stranger = w.suite.create_tenant("Someone Else", 5).await;
    let e = check(&w, &stranger.admin_token, sequence, hash)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);

    // An event before the sign-in rewritten, every hash recomputed: the
    // receipt no longer holds.
    rewrite_and_rehash(&w, &t, |evs| evs[1].reason = "nothing to see".into()).await;
    let v = check(&w, &w.tenant.admin_token, sequence, hash)
        .await
        .unwrap();
    assert!(!v.valid);
    assert_eq!(v.first_broken_sequence, 3);
    assert_eq!(
        v.problem,
        "the log's hash at event 3 is not the receipt's: that event or one before it was changed and the log rehashed"
    );

    // Cut off before the sign-in: the receipt's event is gone.
    let id = &t;
    use sea_orm::ConnectionTrait;
    w.audit
        .store
        .connection()
        .execute_unprepared(&format!(
            "DELETE FROM audit_events WHERE tenant_id = '{id}' AND sequence >= 3"
        ))
        .await
        .unwrap();
    let v = check(&w, &w.tenant.admin_token, sequence, hash)
        .await
        .unwrap();
    assert_eq!((v.valid, v.first_broken_sequence), (false, 3));
    assert!(v.problem.contains("no longer in it"), "{}", v.problem);
}
