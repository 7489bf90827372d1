//! The outbox on a real database: SQLite by default, PostgreSQL too when
//! `KEYHOLDER_TEST_DATABASE_URL` names one (each test then uses its own table).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::CancellationToken;
use crate::clock::{ManualClock, SharedClock};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Db {
    db: DatabaseConnection,
    outbox: Outbox,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh outbox table: in a temporary SQLite file, or a uniquely named
/// table on the PostgreSQL test server.
async fn fresh() -> Db {
    let table: &'static str =
        Box::leak(format!("kit_outbox_{}", uuid::Uuid::new_v4().simple()).into_boxed_str());
    let outbox = Outbox::new(table);
    let (db, dir) = match std::env::var("KEYHOLDER_TEST_DATABASE_URL") {
        Ok(url) => {
            let db = scratch_postgres(&url).await;
            schema::create(&db, &outbox).await.unwrap();
            (db, None)
        }
        Err(_) => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
            // The table exists before the pool opens: an SQLite connection
            // opened earlier may prepare against the schema it last read
            // and miss the unique index `ON CONFLICT` names.
            let setup = crate::db::connect(&Secret::new(url.clone())).await.unwrap();
            schema::create(&setup, &outbox).await.unwrap();
            setup.close().await.unwrap();
            (
                crate::db::connect(&Secret::new(url)).await.unwrap(),
                Some(dir),
            )
        }
    };
    Db {
        db,
        outbox,
        _dir: dir,
    }
}

/// A new database on the PostgreSQL test server, named like the testkit's
/// (`kh_test_*`), so CI's clean-up drops it and no table is left behind in
/// the server's own database.
async fn scratch_postgres(admin_url: &str) -> sea_orm::DatabaseConnection {
    use sea_orm::ConnectionTrait;
    let admin = crate::db::connect(&Secret::new(admin_url.to_string()))
        .await
        .unwrap();
    let name = format!("kh_test_kit_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let _ = admin.close().await;
    crate::db::connect(&Secret::new(crate::db::sibling_database_url(
        admin_url, &name,
    )))
    .await
    .unwrap()
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// Records what it was given; fails or refuses the ids it is told to.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<String>>,
    batches: Mutex<usize>,
    failing: Mutex<HashSet<String>>,
    refused: Mutex<HashSet<String>>,
    /// Cancelled during the first batch (shutdown test).
    stop: Mutex<Option<CancellationToken>>,
    /// Held while delivering (lets two relays overlap).
    pause: Option<Duration>,
}

#[async_trait::async_trait]
impl Sink for Arc<Recorder> {
    async fn deliver(&self, batch: &[Message]) -> Vec<Outcome> {
        *self.batches.lock().unwrap() += 1;
        if let Some(stop) = self.stop.lock().unwrap().take() {
            stop.cancel();
        }
        if let Some(p) = self.pause {
            tokio::time::sleep(p).await;
        }
        let mut out = Vec::new();
        let mut failed = HashSet::new();
        for m in batch {
            if failed.contains(&m.tenant_id) || self.failing.lock().unwrap().contains(&m.event_id) {
                failed.insert(m.tenant_id.clone());
                out.push(Outcome::Retry("receiver down".into()));
            } else if self.refused.lock().unwrap().contains(&m.event_id) {
                out.push(Outcome::Reject("field x too long".into()));
            } else {
                self.got.lock().unwrap().push(m.event_id.clone());
                out.push(Outcome::Delivered);
            }
        }
        out
    }
}

async fn put(d: &Db, id: &str, tenant: &str, secret: Option<&str>, at: DateTime<Utc>) {
    let txn = d.db.begin().await.unwrap();
    d.outbox
        .enqueue(
            &txn,
            NewMessage {
                event_id: id,
                tenant_id: tenant,
                payload: id.as_bytes(),
                secret,
                traceparent: None,
                created_at: at,
            },
        )
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

fn relay(
    d: &Db,
    sink: &Arc<Recorder>,
    clock: &Arc<ManualClock>,
    o: RelayOptions,
) -> Relay<Arc<Recorder>> {
    let clock: SharedClock = clock.clone();
    Relay::new(d.db.clone(), d.outbox, sink.clone(), clock, o)
}

fn quick() -> RelayOptions {
    RelayOptions {
        backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(8)),
        max_attempts: 4,
        ..RelayOptions::default()
    }
}

#[tokio::test]
async fn a_committed_row_is_delivered_once_and_a_rolled_back_one_never() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    let r = relay(&d, &sink, &clock, quick());
    put(&d, "e1", "t", Some("sealed"), start()).await;
    let txn = d.db.begin().await.unwrap();
    let m = NewMessage {
        event_id: "gone",
        tenant_id: "t",
        payload: b"x",
        secret: None,
        traceparent: None,
        created_at: start(),
    };
    d.outbox.enqueue(&txn, m).await.unwrap();
    txn.rollback().await.unwrap();
    let rep = r.deliver_once().await.unwrap();
    assert_eq!((rep.claimed, rep.delivered), (1, 1));
    assert_eq!(r.deliver_once().await.unwrap(), Report::default());
    assert_eq!(*sink.got.lock().unwrap(), vec!["e1".to_string()]);
    assert_eq!(r.pending().await.unwrap(), 0);
    // enqueue_many_once writes an id only once.
    let again = NewMessage {
        event_id: "e1",
        ..m
    };
    let fresh_id = NewMessage {
        event_id: "e2",
        ..m
    };
    assert_eq!(
        d.outbox.enqueue_many_once(&d.db, &[again]).await.unwrap(),
        0
    );
    assert_eq!(
        d.outbox
            .enqueue_many_once(&d.db, &[fresh_id])
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn many_rows_in_one_call_skip_known_ids_and_keep_their_order() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    let r = relay(
        &d,
        &sink,
        &clock,
        RelayOptions {
            batch: 5_000,
            ..quick()
        },
    );
    put(&d, "known", "t", None, start()).await;
    // More rows than one statement takes; "known" is already stored and
    // "twice" is sent three times: twice within one statement (as a group
    // commit does with concurrent retries), once in the next.
    let mut ids: Vec<String> = (0..2_500).map(|i| format!("e{i:05}")).collect();
    ids.insert(700, "known".into());
    ids.insert(1_200, "twice".into());
    ids.insert(1_300, "twice".into());
    ids.insert(2_100, "twice".into());
    let rows: Vec<NewMessage> = ids
        .iter()
        .map(|id| NewMessage {
            event_id: id,
            tenant_id: "t",
            payload: id.as_bytes(),
            secret: None,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            created_at: start(),
        })
        .collect();
    let txn = d.db.begin().await.unwrap();
    assert_eq!(
        d.outbox.enqueue_many_once(&txn, &rows).await.unwrap(),
        2_501
    );
    txn.commit().await.unwrap();
    assert_eq!(d.outbox.enqueue_many_once(&d.db, &rows).await.unwrap(), 0);
    assert_eq!(d.outbox.enqueue_many_once(&d.db, &[]).await.unwrap(), 0);
    assert_eq!(r.deliver_once().await.unwrap().delivered, 2_502);
    let mut want = vec!["known".to_string()];
    let mut seen = HashSet::from(["known".to_string()]);
    want.extend(ids.iter().filter(|id| seen.insert(id.to_string())).cloned());
    assert_eq!(*sink.got.lock().unwrap(), want);
}

#[tokio::test]
async fn a_failing_row_backs_off_then_becomes_a_dead_letter() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    sink.failing.lock().unwrap().insert("bad".into());
    let r = relay(&d, &sink, &clock, quick());
    put(&d, "bad", "t", Some("sealed"), start()).await;
    // Attempts 1..3 fail and wait 1 s, 2 s, 4 s; nothing is tried earlier.
    for (n, wait) in [(1, 1i64), (2, 2), (3, 4)] {
        let rep = r.deliver_once().await.unwrap();
        assert_eq!((rep.claimed, rep.retried), (1, 1), "attempt {n}");
        assert_eq!(rep.retry_in, Some(Duration::from_secs(wait.unsigned_abs())));
        clock.advance(chrono::Duration::seconds(wait) - chrono::Duration::milliseconds(1));
        assert_eq!(
            r.deliver_once().await.unwrap().claimed,
            0,
            "early retry {n}"
        );
        clock.advance(chrono::Duration::milliseconds(1));
    }
    // The fourth failure is the last: a dead letter, kept with the reason.
    let rep = r.deliver_once().await.unwrap();
    assert_eq!((rep.dead, rep.retried), (1, 0));
    assert_eq!(r.pending().await.unwrap(), 0);
    let dead = r.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].event_id.as_str(), dead[0].attempts), ("bad", 4));
    assert_eq!(dead[0].last_error, "receiver down");
    clock.advance(chrono::Duration::days(1));
    assert_eq!(r.deliver_once().await.unwrap().claimed, 0);
    assert_eq!(r.deliver_now().await.unwrap().claimed, 0);
}

#[tokio::test]
async fn deliver_now_tries_a_row_ahead_of_its_backoff() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    sink.failing.lock().unwrap().insert("e1".into());
    let r = relay(&d, &sink, &clock, quick());
    put(&d, "e1", "t", None, start()).await;
    assert_eq!(r.deliver_once().await.unwrap().retried, 1);
    sink.failing.lock().unwrap().clear();
    assert_eq!(r.deliver_once().await.unwrap().claimed, 0);
    assert_eq!(r.deliver_now().await.unwrap().delivered, 1);
}

#[tokio::test]
async fn a_refused_row_is_set_aside_at_once_and_the_rest_flow() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    sink.refused.lock().unwrap().insert("e2".into());
    let r = relay(&d, &sink, &clock, quick());
    for id in ["e1", "e2", "e3"] {
        put(&d, id, "t", None, start()).await;
    }
    let rep = r.deliver_once().await.unwrap();
    assert_eq!((rep.delivered, rep.dead), (2, 1));
    assert_eq!(*sink.got.lock().unwrap(), vec!["e1", "e3"]);
    assert_eq!(
        r.dead_letters().await.unwrap()[0].last_error,
        "field x too long"
    );
}

#[tokio::test]
async fn a_tenant_waiting_out_a_backoff_holds_back_only_its_own_rows() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    sink.failing.lock().unwrap().insert("a1".into());
    let r = relay(&d, &sink, &clock, quick());
    put(&d, "a1", "A", None, start()).await;
    put(&d, "a2", "A", None, start()).await;
    put(&d, "b1", "B", None, start()).await;
    let rep = r.deliver_once().await.unwrap();
    // a1 failed, so a2 (behind it) was not sent either; b1 went.
    assert_eq!((rep.claimed, rep.delivered, rep.retried), (3, 1, 2));
    put(&d, "b2", "B", None, start()).await;
    let rep = r.deliver_once().await.unwrap();
    assert_eq!((rep.claimed, rep.delivered), (1, 1));
    assert_eq!(*sink.got.lock().unwrap(), vec!["b1", "b2"]);
    sink.failing.lock().unwrap().clear();
    clock.advance(chrono::Duration::seconds(1));
    let rep = r.deliver_once().await.unwrap();
    assert_eq!(rep.delivered, 2);
    assert_eq!(*sink.got.lock().unwrap(), vec!["b1", "b2", "a1", "a2"]);
}

#[tokio::test]
async fn a_leased_row_waits_until_its_lease_lapses() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    let r = relay(&d, &sink, &clock, quick());
    put(&d, "e1", "t", None, start()).await;
    // Another relay claimed it and died mid-send.
    let now = crate::instant::to_stored(start());
    let lease = 30_000_000;
    let taken = rows::claim(&d.db, &d.outbox, "dead-peer", now, now, now + lease, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(r.deliver_once().await.unwrap().claimed, 0);
    clock.advance(chrono::Duration::seconds(29));
    assert_eq!(r.deliver_once().await.unwrap().claimed, 0);
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(r.deliver_once().await.unwrap().delivered, 1);
}

#[tokio::test]
async fn delivered_rows_older_than_the_retention_are_pruned_dead_letters_stay() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder::default());
    sink.refused.lock().unwrap().insert("dead".into());
    let o = RelayOptions {
        retention: Duration::from_secs(3600),
        ..quick()
    };
    let r = relay(&d, &sink, &clock, o);
    put(&d, "old", "t", None, start()).await;
    put(&d, "dead", "u", None, start()).await;
    r.deliver_once().await.unwrap();
    clock.advance(chrono::Duration::minutes(30));
    put(&d, "new", "t", None, clock.now()).await;
    put(&d, "waiting", "v", None, clock.now()).await;
    sink.failing.lock().unwrap().insert("waiting".into());
    r.deliver_once().await.unwrap();
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(r.prune().await.unwrap(), 1);
    let left: HashMap<String, i64> = sea_orm::ConnectionTrait::query_all_raw(
        &d.db,
        sea_orm::Statement::from_string(
            d.db.get_database_backend(),
            format!("SELECT event_id, attempts FROM {}", d.outbox.table()),
        ),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
        )
    })
    .collect();
    let mut ids: Vec<&str> = left.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec!["dead", "new", "waiting"]);
}

use crate::clock::Clock;
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn two_relays_never_deliver_one_row_twice() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let sink = Arc::new(Recorder {
        pause: Some(Duration::from_millis(5)),
        ..Recorder::default()
    });
    let o = RelayOptions {
        batch: 7,
        ..quick()
    };
    let (a, b) = (relay(&d, &sink, &clock, o), relay(&d, &sink, &clock, o));
    for n in 0..60 {
        put(
            &d,
            &format!("e{n:02}"),
            &format!("t{}", n % 3),
            None,
            start(),
        )
        .await;
    }
    let drive = |r: Relay<Arc<Recorder>>| async move {
        while r.pending().await.unwrap() > 0 {
            r.deliver_once().await.unwrap();
        }
    };
    tokio::join!(drive(a.clone()), drive(b.clone()));
    let got = sink.got.lock().unwrap().clone();
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!((got.len(), unique.len()), (60, 60));
    // Each tenant's rows arrived in the order written.
    for t in 0..3 {
        let mine: Vec<&String> = got
            .iter()
            .filter(|id| id[1..].parse::<usize>().unwrap() % 3 == t)
            .collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted);
    }
}

#[tokio::test]
async fn shutdown_stops_after_the_current_batch() {
    let d = fresh().await;
    let clock = ManualClock::new(start());
    let stop = CancellationToken::new();
    let sink = Arc::new(Recorder::default());
    *sink.stop.lock().unwrap() = Some(stop.clone());
    let o = RelayOptions {
        batch: 2,
        ..quick()
    };
    let r = relay(&d, &sink, &clock, o);
    for n in 0..10 {
        put(&d, &format!("e{n}"), "t", None, start()).await;
    }
    tokio::time::timeout(Duration::from_secs(10), r.clone().run(stop))
        .await
        .unwrap();
    assert_eq!(*sink.batches.lock().unwrap(), 1);
    assert_eq!(r.pending().await.unwrap(), 8);
}

#[tokio::test]
async fn a_rebuild_keeps_the_rows_and_the_sequence() {
    let d = fresh().await;
    let t = d.outbox.table();
    put(&d, "e1", "t", Some("s"), start()).await;
    put(&d, "e2", "t", None, start()).await;
    let select = format!("SELECT {} FROM {t}_old", schema::COLUMNS);
    schema::rebuild(&d.db, &d.outbox, &select).await.unwrap();
    put(&d, "e3", "t", None, start()).await;
    let rows =
        d.db.query_all_raw(sea_orm::Statement::from_string(
            d.db.get_database_backend(),
            format!("SELECT seq, event_id FROM {t} ORDER BY seq"),
        ))
        .await
        .unwrap();
    let got: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(1, "e1".into()), (2, "e2".into()), (3, "e3".into())]
    );
}

/// The definition of `index` as the database keeps it.
async fn index_definition(d: &Db, index: &str) -> String {
    use sea_orm::ConnectionTrait;
    let sql = match d.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
        _ => "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
    };
    d.db.query_one_raw(sea_orm::Statement::from_sql_and_values(
        d.db.get_database_backend(),
        sql,
        [index.into()],
    ))
    .await
    .unwrap()
    .map(|r| r.try_get_by_index::<String>(0).unwrap())
    .unwrap_or_default()
}

/// The per-tenant and delivered-time indexes are read by nothing and
/// gone from a new outbox; the migrations that made, reshaped and dropped
/// them go both ways.
#[tokio::test]
async fn the_unread_indexes_are_gone_and_their_migrations_go_both_ways() {
    let d = fresh().await;
    let t = d.outbox.table();
    let (tenant, delivered) = (format!("{t}_tenant"), format!("{t}_delivered"));
    assert_eq!(index_definition(&d, &tenant).await, "");
    assert_eq!(index_definition(&d, &delivered).await, "");

    schema::restore_unread_indexes(&d.db, &d.outbox)
        .await
        .unwrap();
    let settled = |def: &str| def.contains("delivered_at_us") && def.contains("dead_at_us");
    assert!(settled(&index_definition(&d, &tenant).await));
    let def = index_definition(&d, &delivered).await;
    assert!(def.contains("delivered_at_us") && !settled(&def), "{def}");

    schema::unreindex_tenant_order(&d.db, &d.outbox)
        .await
        .unwrap();
    let old = index_definition(&d, &tenant).await;
    assert!(old.contains("tenant_id") && !settled(&old), "{old}");
    schema::reindex_tenant_order(&d.db, &d.outbox)
        .await
        .unwrap();
    assert!(settled(&index_definition(&d, &tenant).await));

    schema::drop_unread_indexes(&d.db, &d.outbox).await.unwrap();
    assert_eq!(index_definition(&d, &tenant).await, "");
    assert_eq!(index_definition(&d, &delivered).await, "");
}

/// The database's plan for `sql` with `params`, one line per step.
async fn plan(d: &Db, sql: &str, params: Vec<sea_orm::Value>) -> Vec<String> {
    let backend = d.db.get_database_backend();
    let (explain, column) = match backend {
        DbBackend::Postgres => ("EXPLAIN", 0),
        _ => ("EXPLAIN QUERY PLAN", 3),
    };
    d.db.query_all_raw(stmt(backend, &format!("{explain} {sql}"), params))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(column).unwrap())
        .collect()
}

/// The claim's parameters: due, now, due, now, limit.
fn claim_params() -> Vec<sea_orm::Value> {
    vec![
        1i64.into(),
        1i64.into(),
        1i64.into(),
        1i64.into(),
        200i64.into(),
    ]
}

/// Without its own index the prune still finds delivered rows by range,
/// through another index that starts with `delivered_at_us` (the planner
/// picks one of the three), not by reading the table.
#[tokio::test]
async fn the_prune_reads_delivered_rows_by_range_without_its_own_index() {
    let d = fresh().await;
    if d.db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let t = d.outbox.table();
    let plan = plan(&d, &rows::prune_sql(t), vec![1i64.into(), 100i64.into()]).await;
    let by_range = |line: &&String| {
        line.starts_with(&format!("SEARCH {t} USING COVERING INDEX {t}_"))
            && line.ends_with(" (delivered_at_us>? AND delivered_at_us<?)")
    };
    assert!(
        plan.iter().any(|l| by_range(&l)),
        "no range search: {plan:#?}"
    );
    assert!(
        !plan.iter().any(|line| line.starts_with("SCAN")),
        "the prune reads the whole table: {plan:#?}"
    );
}

/// The claim finds held-back rows through the blocker indexes, by range,
/// not by reading every earlier unsettled row per candidate (which made a
/// claim quadratic in its size). SQLite's plan names the indexes it uses.
#[tokio::test]
async fn the_claim_reads_held_back_rows_through_their_indexes() {
    let d = fresh().await;
    if d.db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let plan = plan(&d, &rows::claim_sql(d.outbox.table()), claim_params()).await;
    let t = d.outbox.table();
    for index in ["backoff", "leased"] {
        let want = format!("USING INDEX {t}_{index} ");
        assert!(
            plan.iter().any(|line| line.contains(&want)),
            "{want} not in the plan: {plan:#?}"
        );
    }
    assert!(
        !plan
            .iter()
            .any(|line| line.contains(&format!("{t}_tenant"))),
        "the per-candidate tenant scan is back: {plan:#?}"
    );
}

/// On PostgreSQL too the claim finds held-back rows through the blocker
/// indexes, by range, over a backlog the planner has statistics for.
#[tokio::test]
async fn on_postgres_the_claim_can_read_held_back_rows_through_their_indexes() {
    let d = fresh().await;
    if d.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let t = d.outbox.table();
    // A backlog the planner knows about: 20,000 due rows of 50 tenants,
    // none backing off or leased.
    d.db.execute_unprepared(&format!(
        "INSERT INTO {t} (event_id, tenant_id, payload, created_at_us) \
         SELECT 'e' || g, 't' || (g % 50), '\\x00'::bytea, 0 FROM generate_series(1, 20000) g; \
         ANALYZE {t}"
    ))
    .await
    .unwrap();
    let plan = plan(&d, &rows::claim_sql(t), claim_params()).await;
    for index in ["backoff", "leased"] {
        // "Bitmap Index Scan on <index>" or "Index Scan using <index> on …".
        let want = format!("{t}_{index} ");
        assert!(
            plan.iter().any(|line| line.contains(&want)),
            "{want} not in the plan: {plan:#?}"
        );
    }
}
