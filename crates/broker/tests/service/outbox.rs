//! The outbox: nothing lost while audit is down, nothing doubled when it
//! comes back.

use crate::common::*;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::{Suite, bearer};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::net::TcpListener;

#[tokio::test]
async fn events_wait_while_audit_is_down_and_arrive_once_when_it_returns() {
    let mut suite = Suite::new().await;
    suite.start_identity().await;
    // Reserve a port for the receiver, then leave it closed: audit is "down".
    let port = keyholder_testkit::smtp::reserve_addr();
    suite.config.audit.url = format!("http://{port}");
    let started = suite.start_broker().await;
    let tenant = suite.create_tenant("Down Time Ltd", 3).await;
    let agent = suite.create_agent("Patient Agent").await;
    let mut broker = suite.broker();
    broker
        .update_support_access_settings(bearer(
            pb::UpdateSupportAccessSettingsRequest {
                tenant_id: tenant.tenant_id.clone(),
                mode: Some(pb::SupportAccessMode::OnRequest as i32),
                ..Default::default()
            },
            &tenant.admin_token,
        ))
        .await
        .unwrap();
    for i in 0..5 {
        broker
            .create_access_request(bearer(
                pb::CreateAccessRequestRequest {
                    tenant_id: tenant.tenant_id.clone(),
                    ticket_ref: format!("T-{i}"),
                    reason: "needs a look at the settings".into(),
                    ..Default::default()
                },
                &agent.token,
            ))
            .await
            .unwrap();
    }
    // Six events wait in the outbox (delivery keeps failing meanwhile).
    assert_eq!(started.handle.undelivered_events().await.unwrap(), 6);

    // Audit comes back on the same address.
    let received = Arc::new(Received::default());
    serve_receiver(
        TcpListener::bind(port).await.unwrap(),
        received.clone(),
        suite.shutdown.clone(),
    );
    let all_in = eventually(|| async { received.events.lock().unwrap().len() == 6 }).await;
    assert!(
        all_in,
        "got {} events",
        received.events.lock().unwrap().len()
    );
    assert!(eventually(|| async { started.handle.undelivered_events().await.unwrap() == 0 }).await);
    let ids: HashSet<String> = received
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(*received.duplicates.lock().unwrap(), 0);
    // Everything arrives in the order it happened: the mode change first.
    let first = received.events.lock().unwrap()[0].clone();
    assert_eq!(
        first.kind,
        keyholder_proto::audit::v1::EventKind::ModeChanged as i32
    );
    assert!(
        received
            .events
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.source == "broker" && e.tenant_id == tenant.tenant_id)
    );
}
