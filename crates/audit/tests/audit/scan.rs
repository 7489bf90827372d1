//! The chain scan as VerifyChain runs it, straight on the store: a scan
//! dropped part-way (a client that hung up, a deadline) must leave every
//! pooled connection answering its own queries.

use keyholder_audit::domain::event::{Incoming, Kind};
use keyholder_audit::domain::samples;
use keyholder_audit::migrations::Migrator;
use keyholder_audit::store::Store;
use keyholder_kit::clock::ManualClock;
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::MigratorTrait;
use std::ops::ControlFlow;

/// Events of ~16 KB each: a copy of ~50 MB, far more than one read or one
/// poll of the scan takes in.
const EVENTS: usize = 3_000;

#[tokio::test]
async fn a_scan_dropped_mid_copy_leaves_the_pool_answering_correctly() {
    if !keyholder_testkit::db::on_postgres() {
        // SQLite's scan is a plain query; the copy, and what a dropped one
        // leaves on its connection, exist only on PostgreSQL.
        eprintln!("skipped: PostgreSQL only (KEYHOLDER_TEST_DATABASE_URL)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = keyholder_testkit::db::scratch_database(dir.path(), "audit.db").await;
    Migrator::up(&db, None).await.unwrap();
    let store = Store::new(db.clone(), ManualClock::new(samples::t0()));
    for part in 0..2 {
        let events = (0..EVENTS / 2)
            .map(|i| {
                let mut e = samples::event(Kind::Action);
                e.event_id = format!("e-{part}-{i}");
                e.reason = "r".repeat(3_900);
                e.attributes.insert("note".into(), "n".repeat(12_000));
                Incoming {
                    event: e,
                    invitation_token: None,
                }
            })
            .collect();
        store.ingest(events).await.unwrap();
    }

    for round in 0..3 {
        // Dropped once the first rows are in, before the copy ends (the
        // scan yields whenever the socket is empty or tokio's budget for
        // one poll is spent, long before ~50 MB are through).
        let started = tokio::sync::Notify::new();
        let mut seen = 0usize;
        let scan = store.scan_chain("t1", 0, i64::MAX, |_| {
            seen += 1;
            if seen == 1 {
                started.notify_one();
            }
            ControlFlow::Continue(())
        });
        tokio::select! {
            biased;
            r = scan => panic!("round {round}: the scan ran to its end ({r:?}) before it could be dropped"),
            () = started.notified() => {}
        }

        // Every connection of the pool, in turn, answers its own query.
        for i in 0..40i64 {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    db.get_database_backend(),
                    "SELECT CAST($1 AS BIGINT) * 2",
                    [i.into()],
                ))
                .await
                .unwrap_or_else(|e| panic!("round {round}, query {i}: {e}"))
                .unwrap_or_else(|| panic!("round {round}, query {i}: no row"));
            assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), i * 2);
        }
    }

    // And a whole scan afterwards reads every row.
    let mut all = 0;
    store
        .scan_chain("t1", 0, i64::MAX, |_| {
            all += 1;
            ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert_eq!(all, EVENTS);
}
