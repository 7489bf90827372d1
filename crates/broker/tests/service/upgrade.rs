//! An upgrade keeps its data: a database written by the millisecond schema
//! (migrations up to m0005) reads back the same instants after
//! `m0007_instants_in_microseconds`, through the store and its domain
//! types, and the migration's way down restores the old values.

use keyholder_broker::cache::AccessCache;
use keyholder_broker::domain::state::{GrantState, RequestState};
use keyholder_broker::migrations::Migrator;
use keyholder_broker::store::Store;
use keyholder_broker::store::entities::grants;
use keyholder_testkit::db::{fresh_postgres_database, on_postgres};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use sea_orm_migration::MigratorTrait;
use std::sync::Arc;

/// 2026-11-27 10:00:00.123 UTC, in milliseconds (the old unit).
const T_MS: i64 = 1_795_860_000_123;
const HOUR_MS: i64 = 3_600_000;

async fn connect(dir: &std::path::Path) -> DatabaseConnection {
    let url = if on_postgres() {
        fresh_postgres_database().await.expose().to_string()
    } else {
        format!("sqlite://{}?mode=rwc", dir.join("broker.db").display())
    };
    Database::connect(url.as_str()).await.unwrap()
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
    // Down past m0008 (request ids) and m0007.
    Migrator::down(&db, Some(2)).await.unwrap();
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
