//! An event audit refuses as invalid is set aside with audit's reason; the
//! events before and after it are delivered instead of waiting forever.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn a_refused_event_is_set_aside_and_the_rest_keep_flowing() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );

    // Audit goes down while three actions are reported; it will refuse the
    // middle one, and with it any batch that holds it.
    ctx.received.down.store(true, Ordering::SeqCst);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = uuid::Uuid::new_v4().to_string();
        let r = ctx
            .broker()
            .report_action(bearer(
                pb::ReportActionRequest {
                    request_id: id.clone(),
                    session_token: s.access_token.clone(),
                    entity: "crm.deal".into(),
                    action: "read".into(),
                    ..Default::default()
                },
                &backend,
            ))
            .await
            .unwrap();
        ids.push(r.into_inner().event_id);
    }
    ctx.received.reject.lock().unwrap().insert(ids[1].clone());
    assert_eq!(ctx.broker.handle.undelivered_events().await.unwrap(), 3);
    ctx.received.down.store(false, Ordering::SeqCst);

    let delivered = |id: &str| {
        ctx.received
            .of_kind(EventKind::Action)
            .iter()
            .any(|e| e.event_id == id)
    };
    assert!(
        eventually(|| async {
            delivered(&ids[0])
                && delivered(&ids[2])
                && ctx.broker.handle.undelivered_events().await.unwrap() == 0
        })
        .await,
        "the events around the refused one were not delivered"
    );
    assert!(!delivered(&ids[1]));
    let rejected = ctx.broker.handle.rejected_events().await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, ids[1]);
    assert!(
        rejected[0].1.contains("longer than 200"),
        "{}",
        rejected[0].1
    );

    // Later events flow as usual.
    let later = uuid::Uuid::new_v4().to_string();
    let later = ctx
        .broker()
        .report_action(bearer(
            pb::ReportActionRequest {
                request_id: later.clone(),
                session_token: s.access_token.clone(),
                entity: "crm.deal".into(),
                action: "read".into(),
                ..Default::default()
            },
            &backend,
        ))
        .await
        .unwrap()
        .into_inner()
        .event_id;
    assert!(eventually(|| async { delivered(&later) }).await);
    assert_eq!(ctx.broker.handle.rejected_events().await.unwrap().len(), 1);
}
