//! Broker's outbox on the kit's relay, against the real service: leases
//! keep two brokers' relays from sending one event twice, a failing
//! delivery backs off and ends as a dead letter, delivered rows are pruned
//! after the retention, and a stop waits only for the batch in flight. The
//! served broker's own relay (wall clock) runs beside these replicas; each
//! test is written so it cannot change the outcome.

use crate::common::*;
use keyholder_broker::store::entities::outbox as row;
use keyholder_kit::clock::{Clock, ManualClock, SharedClock};
use keyholder_kit::outbox::{Backoff, RelayOptions};
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A manual clock a day ahead of the wall clock: rows a replica on it
/// schedules are never due for the served relay.
fn ahead() -> std::sync::Arc<ManualClock> {
    ManualClock::new(chrono::Utc::now() + chrono::Duration::days(1))
}

/// Writes `n` events (mode changes; the default is closed).
async fn changes(ctx: &Ctx, n: usize) {
    for k in 0..n {
        let mode = if k % 2 == 0 {
            pb::SupportAccessMode::OnRequest
        } else {
            pb::SupportAccessMode::Closed
        };
        ctx.set_mode(mode).await;
    }
}

#[tokio::test]
async fn two_brokers_relays_never_deliver_one_event_twice() {
    let ctx = Ctx::new().await;
    let options = RelayOptions {
        batch: 2,
        ..RelayOptions::default()
    };
    let replica = || {
        ctx.broker
            .handle
            .outbox_replica(keyholder_kit::clock::system(), options)
            .unwrap()
    };
    let drain = |r: keyholder_broker::tasks::deliverer::Deliverer| async move {
        for _ in 0..200 {
            r.deliver_once().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::join!(changes(&ctx, 12), drain(replica()), drain(replica()));
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    assert_eq!(ctx.received.of_kind(EventKind::ModeChanged).len(), 12);
    assert_eq!(*ctx.received.duplicates.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_failing_delivery_backs_off_and_ends_as_a_dead_letter() {
    let ctx = Ctx::new().await;
    ctx.received.down.store(true, Ordering::SeqCst);
    changes(&ctx, 3).await;
    assert_eq!(ctx.broker.handle.undelivered_events().await.unwrap(), 3);
    let clock = ahead();
    let shared: SharedClock = clock.clone();
    let replica = ctx
        .broker
        .handle
        .outbox_replica(
            shared,
            RelayOptions {
                backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(4)),
                max_attempts: 12,
                ..RelayOptions::default()
            },
        )
        .unwrap();
    let first = replica.deliver_once().await.unwrap();
    assert!(first.retried > 0, "{first:?}");
    assert_eq!(
        replica.deliver_once().await.unwrap().claimed,
        0,
        "retried ahead of the backoff"
    );
    // At most twelve attempts each (the served relay may have made some
    // before the replica took over), then every event is a dead letter.
    for _ in 0..12 {
        clock.advance(chrono::Duration::seconds(5));
        replica.deliver_once().await.unwrap();
    }
    assert_eq!(ctx.broker.handle.undelivered_events().await.unwrap(), 0);
    let dead = ctx.broker.handle.rejected_events().await.unwrap();
    assert_eq!(dead.len(), 3);
    assert!(dead.iter().all(|(_, why)| why.contains("down")), "{dead:?}");
    // Kept, and never sent again, even once audit is back.
    ctx.received.down.store(false, Ordering::SeqCst);
    clock.advance(chrono::Duration::days(1));
    assert_eq!(replica.deliver_now().await.unwrap().claimed, 0);
    assert!(ctx.received.of_kind(EventKind::ModeChanged).is_empty());
}

#[tokio::test]
async fn delivered_events_are_pruned_after_the_retention() {
    let ctx = Ctx::new().await;
    changes(&ctx, 2).await;
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    let db = ctx.broker_db().await;
    let delivered = row::Entity::find()
        .filter(row::Column::DeliveredAtUs.is_not_null())
        .count(&db)
        .await
        .unwrap();
    assert!(delivered >= 2);
    let clock = ManualClock::new(chrono::Utc::now());
    let shared: SharedClock = clock.clone();
    let replica = ctx
        .broker
        .handle
        .outbox_replica(
            shared,
            RelayOptions {
                retention: Duration::from_secs(3600),
                ..RelayOptions::default()
            },
        )
        .unwrap();
    assert_eq!(replica.prune().await.unwrap(), 0);
    clock.advance(chrono::Duration::minutes(61));
    assert_eq!(replica.prune().await.unwrap(), delivered);
    assert_eq!(row::Entity::find().count(&db).await.unwrap(), 0);
}

#[tokio::test]
async fn a_stop_waits_for_the_batch_in_flight_not_the_backlog() {
    let ctx = Ctx::new().await;
    ctx.received.down.store(true, Ordering::SeqCst);
    changes(&ctx, 3).await;
    let clock = ahead();
    let shared: SharedClock = clock.clone();
    let replica = ctx
        .broker
        .handle
        .outbox_replica(
            shared,
            RelayOptions {
                batch: 1,
                ..RelayOptions::default()
            },
        )
        .unwrap();
    let stop = keyholder_kit::CancellationToken::new();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), replica.run(stop))
        .await
        .expect("the relay stops after one batch");
    let db = ctx.broker_db().await;
    let scheduled = row::Entity::find()
        .filter(row::Column::NextAttemptAtUs.gt(keyholder_kit::instant::to_stored(clock.now())))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(scheduled, 1);
    assert_eq!(ctx.broker.handle.undelivered_events().await.unwrap(), 3);
}

/// A relay may claim more rows than audit takes in one call (its batch is
/// configurable): the claim goes out in consecutive calls of at most 500,
/// in order, rather than as one call audit refuses followed by a call per
/// event.
#[tokio::test]
async fn a_claim_larger_than_audit_takes_goes_in_calls_of_at_most_500() {
    let ctx = Ctx::new_with(|c| {
        // After one failed attempt the served relay leaves the rows alone
        // for a minute: the replica below claims them all at once.
        c.broker.outbox.backoff_first_ms = 60_000;
        c.broker.outbox.backoff_max_ms = 60_000;
    })
    .await;
    let (_, session) = ctx.live_session(read_only()).await;
    let backend = ctx.backend_token().await;
    assert!(
        eventually(|| async { ctx.broker.handle.undelivered_events().await.unwrap() == 0 }).await
    );
    ctx.received.down.store(true, Ordering::SeqCst);
    let checks: Vec<pb::AccessCheck> = (0..100)
        .map(|_| pb::AccessCheck {
            entity: "crm.deal".into(),
            action: "read".into(),
        })
        .collect();
    for _ in 0..11 {
        let req = pb::CheckAccessBatchRequest {
            session_token: session.access_token.clone(),
            tenant_id: ctx.tenant.tenant_id.clone(),
            checks: checks.clone(),
            record: true,
        };
        ctx.broker()
            .check_access_batch(keyholder_testkit::bearer(req, &backend))
            .await
            .unwrap();
    }
    assert_eq!(ctx.broker.handle.undelivered_events().await.unwrap(), 1100);
    // The served relay has tried once and let go of what it claimed.
    let db = ctx.broker_db().await;
    let count = |leased: bool| {
        let db = db.clone();
        async move {
            let q = row::Entity::find();
            let q = if leased {
                q.filter(row::Column::LeaseOwner.is_not_null())
            } else {
                q.filter(row::Column::Attempts.gt(0))
            };
            q.count(&db).await.unwrap()
        }
    };
    assert!(eventually(|| async { count(false).await > 0 && count(true).await == 0 }).await);
    ctx.received.down.store(false, Ordering::SeqCst);
    let before = ctx.received.calls.lock().unwrap().len();

    let replica = ctx
        .broker
        .handle
        .outbox_replica(
            keyholder_kit::clock::system(),
            RelayOptions {
                batch: 1200,
                ..RelayOptions::default()
            },
        )
        .unwrap();
    let report = replica.deliver_now().await.unwrap();
    assert_eq!((report.claimed, report.delivered), (1100, 1100));
    assert_eq!(
        ctx.received.calls.lock().unwrap()[before..],
        [500, 500, 100]
    );
    assert_eq!(*ctx.received.refused_batches.lock().unwrap(), 0);
    assert_eq!(ctx.received.of_kind(EventKind::Action).len(), 1100);
}
