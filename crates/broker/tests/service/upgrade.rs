//! An upgrade keeps its data: a database written by the millisecond schema
//! (migrations up to m0005) reads back the same instants after
//! `m0007_instants_in_microseconds`, through the store and its domain
//! types, and the migration's way down restores the old values.

use keyholder_broker::cache::AccessCache;
use keyholder_broker::domain::state::{GrantState, RequestState};
use keyholder_broker::migrations::Migrator;
use keyholder_broker::store::Store;
use keyholder_broker::store::entities::grants;
use keyholder_broker::store::entities::outbox;
use keyholder_broker::store::outbox::OUTBOX;
use keyholder_testkit::db::down_through;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder};
use sea_orm_migration::MigratorTrait;
use std::sync::Arc;

/// 2026-11-27 10:00:00.123 UTC, in milliseconds (the old unit).
const T_MS: i64 = 1_795_860_000_123;
const HOUR_MS: i64 = 3_600_000;

async fn connect(dir: &std::path::Path) -> DatabaseConnection {
    keyholder_testkit::db::scratch_database(dir, "broker.db").await
}

/// Rows as the millisecond schema stored them.
fn old_rows() -> Vec<String> {
    let (t, exp) = (T_MS, T_MS + 8 * HOUR_MS);
    vec![
        format!(
            "INSERT INTO broker_settings VALUES ('t1', 'on_request', 86400, 3600, 86400, \
             '{{\"read_only\":true}}', '', '', '', 'adm', {t})"
        ),
        format!(
            "INSERT INTO broker_requests (id, tenant_id, agent_id, agent_name, agent_email, \
             requested_by, ticket_ref, reason, scope, duration_secs, state, created_at, \
             expire_at, remind_at, reminded, decided_by, decided_at, decision_note, grant_id) \
             VALUES ('r1', 't1', 'a1', 'Ann', 'ann@x', 'a1', 'T-1', 'a reason', \
             '{{\"read_only\":true}}', 3600, 'approved', {t}, {exp}, {exp}, FALSE, 'adm', {t}, \
             '', 'g1')"
        ),
        format!(
            "INSERT INTO broker_grants (id, tenant_id, agent_id, agent_name, agent_email, \
             access_request_id, ticket_ref, reason, scope, state, standing, granted_by_id, \
             granted_by_name, granted_by_email, created_at, expire_at, ended_at, revoked_by, \
             credential_hash, credential_used_at, ending_notice_for) \
             VALUES ('g1', 't1', 'a1', 'Ann', 'ann@x', 'r1', 'T-1', 'a reason', \
             '{{\"read_only\":true}}', 'active', FALSE, 'adm', 'Adm', 'adm@x', {t}, {exp}, NULL, \
             '', 'h', {t}, {exp})"
        ),
        format!(
            "INSERT INTO broker_sessions VALUES ('s1', 't1', 'a1', 'g1', 'a reason', {t}, {exp}, \
             'sign-out', 'rh')"
        ),
        format!(
            "INSERT INTO broker_revocations (grant_id, session_id, created_at) VALUES ('g1', 's1', {t})"
        ),
    ]
}

#[tokio::test]
async fn an_upgraded_database_keeps_its_instants() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(dir.path()).await;
    Migrator::up(&db, Some(5)).await.unwrap();
    for sql in old_rows() {
        db.execute_unprepared(&sql).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();

    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let store = Store::new(
        db.clone(),
        Arc::new(AccessCache::default()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let r = store.request("r1").await.unwrap().unwrap();
    assert_eq!(r.state, RequestState::Approved);
    assert_eq!(r.created_at, at(T_MS));
    assert_eq!(r.expire_at, at(T_MS + 8 * HOUR_MS));
    assert_eq!(r.decided_at, Some(at(T_MS)));
    let g = store.grant("g1").await.unwrap().unwrap();
    assert_eq!(g.state, GrantState::Active);
    assert_eq!(
        (
            g.created_at,
            g.expire_at,
            g.credential_used_at,
            g.ending_notice_for
        ),
        (
            at(T_MS),
            at(T_MS + 8 * HOUR_MS),
            Some(at(T_MS)),
            Some(at(T_MS + 8 * HOUR_MS))
        )
    );
    let s = store.session("s1").await.unwrap().unwrap();
    assert_eq!(
        (s.signed_in_at, s.ended_at),
        (at(T_MS), Some(at(T_MS + 8 * HOUR_MS)))
    );
    let settings = store.settings("t1").await.unwrap();
    assert_eq!(settings.updated_at, Some(at(T_MS)));
    // Stored as microseconds, in the renamed columns.
    let row = grants::Entity::find_by_id("g1".to_string())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.created_at_us, T_MS * 1000);

    // The way down gives the milliseconds back.
    down_through::<Migrator>(&db, "m0007_instants_in_microseconds").await;
    let back = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT created_at FROM broker_grants WHERE id = 'g1'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.try_get::<i64>("", "created_at").unwrap(), T_MS);
}

/// The outbox's move onto the kit's one shape keeps every row, and goes
/// back down.
#[tokio::test]
async fn the_outbox_migration_keeps_old_rows_in_the_new_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = keyholder_testkit::db::scratch_database(dir.path(), "broker.db").await;
    let pg = keyholder_testkit::db::on_postgres();
    Migrator::up(&db, Some(5)).await.unwrap();
    let blob = |n: u8| {
        if pg {
            format!("'\\x0{n}'::bytea")
        } else {
            format!("x'0{n}'")
        }
    };
    let (b1, b2, b3) = (blob(1), blob(2), blob(3));
    db.execute_unprepared(&format!(
        "INSERT INTO broker_outbox (event_id, tenant_id, payload, created_at, delivered_at, \
         attempts, rejected_at, last_error, traceparent) VALUES \
         ('a', 't', {b1}, 1000, 1001, 2, NULL, '', NULL), \
         ('b', 't', {b2}, 2000, NULL, 5, 2001, 'too long', 'tp'), \
         ('c', 'u', {b3}, 3000, NULL, 1, NULL, '', NULL)"
    ))
    .await
    .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let rows = outbox::Entity::find()
        .order_by_asc(outbox::Column::Seq)
        .all(&db)
        .await
        .unwrap();
    let shape: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.seq,
                r.event_id.as_str(),
                r.created_at_us,
                r.delivered_at_us,
                r.dead_at_us,
                r.attempts,
                r.last_error.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, "a", 1_000_000, Some(1_001_000), None, 2, ""),
            (2, "b", 2_000_000, None, Some(2_001_000), 5, "too long"),
            (3, "c", 3_000_000, None, None, 1, ""),
        ]
    );
    assert_eq!(rows[1].traceparent.as_deref(), Some("tp"));
    assert_eq!(OUTBOX.pending(&db).await.unwrap(), 1);
    assert_eq!(OUTBOX.dead_letters(&db).await.unwrap()[0].event_id, "b");
    // Back down through the later migrations and this one.
    down_through::<Migrator>(&db, "m0006_one_outbox").await;
    let back = keyholder_testkit::db::count(
        &db,
        "SELECT COUNT(*) FROM broker_outbox WHERE created_at = 3000 AND rejected_at IS NULL",
    )
    .await;
    assert_eq!(back, 1);
    // Every row keeps what it held: the delivered one, the dead letter.
    let kept = keyholder_testkit::db::count(
        &db,
        "SELECT COUNT(*) FROM broker_outbox WHERE \
         (event_id = 'a' AND delivered_at = 1001 AND rejected_at IS NULL AND attempts = 2) \
         OR (event_id = 'b' AND delivered_at IS NULL AND rejected_at = 2001 AND last_error = 'too long')",
    )
    .await;
    assert_eq!(kept, 2);
}
