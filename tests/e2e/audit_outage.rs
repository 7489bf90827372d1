//! Audit down while an agent works: the broker's outbox keeps every event
//! and delivers it once audit is back — none lost, none doubled — and the
//! chief admin's sign-in e-mail follows, exactly once.

use crate::flows::World;
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::bearer;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn events_made_while_audit_is_down_arrive_once_when_it_returns() {
    let mut w = World::start_with("Umbrella", identity::Locale::En, false).await;
    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let request = w
        .helpdesk_requests("T-42", "nightly export fails with a timeout")
        .await;
    let grant = w.approve(&request.access_request_id, 1).await;
    let credential = w.credential(&grant.grant_id).await;
    let reason = "looking at the export job configuration";
    let session = w
        .sign_in(&credential, reason)
        .await
        .expect("sign-in works while audit is down")
        .session
        .unwrap();
    let token_denied = w
        .sign_in(&credential, "second try with a spent credential")
        .await;
    assert!(token_denied.is_err());

    // Audit comes back on the address the broker has been retrying.
    let addr = w.audit_addr();
    w.suite.start_audit_at(addr).await;

    let history = w
        .login_history_until(|h| {
            h.iter().any(|e| e.session_id == session.session_id)
                && h.iter()
                    .any(|e| !e.succeeded && e.reason == "second try with a spent credential")
        })
        .await;
    assert_eq!(
        history
            .iter()
            .filter(|e| e.session_id == session.session_id)
            .count(),
        1,
        "{history:#?}"
    );

    // Every kind arrived exactly once.
    let mut counts = BTreeMap::new();
    for _ in 0..100 {
        let events = w
            .suite
            .audit()
            .list_events(bearer(
                audit::ListEventsRequest {
                    tenant_id: w.tenant.tenant_id.clone(),
                    page_size: 500,
                    ..Default::default()
                },
                &w.tenant.admin_token,
            ))
            .await
            .unwrap()
            .into_inner()
            .events;
        counts = BTreeMap::new();
        for e in &events {
            let kind = audit::EventKind::try_from(e.event.as_ref().unwrap().kind).unwrap();
            *counts.entry(kind.as_str_name().to_string()).or_insert(0) += 1;
        }
        if counts.get("EVENT_KIND_SIGN_IN_REFUSED") == Some(&1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for kind in [
        "EVENT_KIND_MODE_CHANGED",
        "EVENT_KIND_REQUEST_CREATED",
        "EVENT_KIND_REQUEST_APPROVED",
        "EVENT_KIND_SIGN_IN",
        "EVENT_KIND_SIGN_IN_REFUSED",
    ] {
        assert_eq!(counts.get(kind), Some(&1), "{kind} in {counts:?}");
    }

    // The chief admin hears of the sign-in once it is recorded, exactly once.
    w.mail_to(&w.tenant.admin_email, reason).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sign_in_mails = w
        .smtp
        .messages()
        .into_iter()
        .filter(|m| {
            m.to.iter()
                .any(|r| r.eq_ignore_ascii_case(&w.tenant.admin_email))
                && m.body("text/plain").unwrap_or_default().contains(reason)
        })
        .count();
    assert_eq!(sign_in_mails, 1);
}
