//! Identity's outbox on the kit's relay, against the real service: leases
//! keep replicas from sending one event twice, a failing delivery backs off
//! and ends as a dead letter, delivered rows are pruned after the
//! retention, and a stop waits only for the batch in flight. The served
//! identity's own relay runs beside these replicas (wall clock), as another
//! replica would; each test is written so it cannot change the outcome.

use crate::receiver::Ctx;
use keyholder_identity::store::entities::outbox as row;
use keyholder_kit::clock::{Clock, ManualClock, SharedClock};
use keyholder_kit::outbox::{Backoff, RelayOptions};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::time::Duration;

async fn db(c: &Ctx) -> sea_orm::DatabaseConnection {
    let url =
        c.s.config
            .database_url(keyholder_kit::config::ServiceName::Identity);
    sea_orm::Database::connect(url.expose()).await.unwrap()
}

/// A manual clock a day ahead of the wall clock: rows this replica
/// schedules are never due for the served relay, so after its first
/// attempt the replica alone decides.
fn ahead() -> std::sync::Arc<ManualClock> {
    ManualClock::new(chrono::Utc::now() + chrono::Duration::days(1))
}

#[tokio::test]
async fn replicas_never_deliver_one_event_twice() {
    let c = Ctx::up().await;
    let options = RelayOptions {
        batch: 2,
        ..RelayOptions::default()
    };
    let replica = || {
        c.handle
            .outbox_replica(keyholder_kit::clock::system(), options)
    };
    let (r1, r2, r3) = (replica(), replica(), replica());
    let t = c.s.create_tenant("Many", 50).await;
    let writing = async {
        for n in 0..12 {
            c.s.create_employee(&t, &format!("p{n}@many.example"), false)
                .await;
        }
    };
    let drain = |r: keyholder_identity::tasks::deliverer::Deliverer| async move {
        for _ in 0..200 {
            r.deliver_once().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::join!(writing, drain(r1), drain(r2), drain(r3));
    c.flush().await;
    assert_eq!(c.received.of_change("employee_created").len(), 12);
    assert_eq!(c.received.duplicates(), 0);
}

#[tokio::test]
async fn a_failing_delivery_backs_off_and_ends_as_a_dead_letter() {
    let c = Ctx::down().await;
    let t = c.s.create_tenant("Never", 5).await;
    c.s.create_employee(&t, "one@never.example", false).await;
    let waiting = c.handle.undelivered_events().await.unwrap();
    assert!(waiting >= 2, "{waiting}");
    let clock = ahead();
    let shared: SharedClock = clock.clone();
    let replica = c.handle.outbox_replica(
        shared,
        RelayOptions {
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(4)),
            max_attempts: 12,
            ..RelayOptions::default()
        },
    );
    // The first attempt fails and schedules the next a second later.
    let r = replica.deliver_due().await.unwrap();
    assert_eq!(r.retried + r.dead, r.claimed);
    assert!(r.retried > 0);
    assert!(r.last_error.is_some());
    let later = replica.deliver_due().await.unwrap();
    assert_eq!(later.claimed, 0, "retried ahead of the backoff");
    // At most twelve attempts each (the served relay may have made some
    // before the replica took over), then every event is a dead letter.
    for _ in 0..12 {
        clock.advance(chrono::Duration::seconds(5));
        replica.deliver_due().await.unwrap();
    }
    assert_eq!(c.handle.undelivered_events().await.unwrap(), 0);
    let dead = c.handle.rejected_events().await.unwrap();
    assert_eq!(dead.len() as u64, waiting);
    assert!(
        dead.iter().all(|(_, why)| why.starts_with("audit")),
        "{dead:?}"
    );
    // Dead letters stay, and are never sent again, even once audit is back.
    c.receiver_up().await;
    clock.advance(chrono::Duration::days(1));
    assert_eq!(replica.deliver_due().await.unwrap().claimed, 0);
    assert_eq!(c.handle.deliver_once().await.unwrap(), 0);
    assert!(c.received.all().is_empty());
    let db = db(&c).await;
    let kept = row::Entity::find()
        .filter(row::Column::DeadAtUs.is_not_null())
        .filter(row::Column::Attempts.lte(12))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(kept, waiting);
}

#[tokio::test]
async fn delivered_events_are_pruned_after_the_retention() {
    let c = Ctx::up().await;
    let t = c.s.create_tenant("Old", 5).await;
    c.s.create_employee(&t, "one@old.example", false).await;
    c.flush().await;
    let db = db(&c).await;
    let delivered = row::Entity::find()
        .filter(row::Column::DeliveredAtUs.is_not_null())
        .count(&db)
        .await
        .unwrap();
    assert!(delivered >= 2);
    let clock = ManualClock::new(chrono::Utc::now());
    let shared: SharedClock = clock.clone();
    let replica = c.handle.outbox_replica(
        shared,
        RelayOptions {
            retention: Duration::from_secs(3600),
            ..RelayOptions::default()
        },
    );
    assert_eq!(replica.prune().await.unwrap(), 0);
    clock.advance(chrono::Duration::minutes(61));
    assert_eq!(replica.prune().await.unwrap(), delivered);
    assert_eq!(row::Entity::find().count(&db).await.unwrap(), 0);
    // What is written later is still delivered.
    c.s.create_employee(&t, "two@old.example", false).await;
    c.flush().await;
    assert_eq!(c.received.of_change("employee_created").len(), 2);
}

#[tokio::test]
async fn a_stop_waits_for_the_batch_in_flight_not_the_backlog() {
    let c = Ctx::down().await;
    let t = c.s.create_tenant("Stop", 5).await;
    c.s.create_employee(&t, "one@stop.example", false).await;
    c.s.create_employee(&t, "two@stop.example", false).await;
    let clock = ahead();
    let shared: SharedClock = clock.clone();
    let replica = c.handle.outbox_replica(
        shared,
        RelayOptions {
            batch: 1,
            ..RelayOptions::default()
        },
    );
    let stop = keyholder_kit::CancellationToken::new();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), replica.run(stop))
        .await
        .expect("the relay stops after one batch");
    // Exactly one row carries the replica's schedule (a day ahead).
    let db = db(&c).await;
    let scheduled = row::Entity::find()
        .filter(row::Column::NextAttemptAtUs.gt(keyholder_kit::instant::to_stored(clock.now())))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(scheduled, 1);
    assert!(c.handle.undelivered_events().await.unwrap() >= 3);
}
