//! An upgrade keeps its data: a database written at m0001 (instant columns
//! without a unit in their names) reads back the same events, instants,
//! login history and mails after m0002's back-fill and m0003's rename, and
//! m0003's way down gives the old names back.

use chrono::{DateTime, Duration, Utc};
use keyholder_audit::domain::chain::{GENESIS, Verifier, link_hash};
use keyholder_audit::domain::event::{Kind, NewEvent};
use keyholder_audit::domain::samples;
use keyholder_audit::migrations::Migrator;
use keyholder_audit::store::Store;
use keyholder_audit::store::sign_ins::LoginQuery;
use keyholder_kit::clock::ManualClock;
use keyholder_kit::paging::Page;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;

/// 2026-11-27 10:00:00.123456 UTC, in microseconds (audit's unit all along).
const T_US: i64 = 1_795_860_000_123_456;

async fn connect(dir: &std::path::Path) -> DatabaseConnection {
    keyholder_testkit::db::scratch_database(dir, "audit.db").await
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap()
}

/// A sign-in, its sign-out half an hour later, and a mode change.
fn events() -> Vec<NewEvent> {
    let mut sign_in = samples::event(Kind::SignIn);
    sign_in.event_id = "e-in".into();
    sign_in.session_id = "sess-1".into();
    sign_in.occur_time = at(T_US);
    let mut sign_out = samples::event(Kind::SignOut);
    sign_out.event_id = "e-out".into();
    sign_out.session_id = "sess-1".into();
    sign_out.occur_time = at(T_US) + Duration::minutes(30);
    sign_out.reason = "signed out".into();
    let mut mode = samples::event(Kind::ModeChanged);
    mode.event_id = "e-mode".into();
    mode.occur_time = at(T_US) + Duration::hours(1);
    vec![sign_in, sign_out, mode]
}

/// Every instant column under m0001's and m0002's names.
const OLD_COLUMNS: [(&str, &str); 12] = [
    ("audit_events", "occur_time"),
    ("audit_events", "record_time"),
    ("audit_checkpoints", "create_time"),
    ("audit_signing_keys", "create_time"),
    ("audit_notification_jobs", "next_attempt_time"),
    ("audit_notification_jobs", "create_time"),
    ("audit_notifications", "next_attempt_time"),
    ("audit_notifications", "lease_until"),
    ("audit_notifications", "create_time"),
    ("audit_notifications", "send_time"),
    ("audit_sign_ins", "sign_in_time"),
    ("audit_sign_ins", "sign_out_time"),
];

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Rows as m0001's schema stored them, chained as the service chains them.
fn old_rows(events: &[NewEvent]) -> Vec<String> {
    let mut sql = Vec::new();
    let mut prev = GENESIS.to_string();
    for (i, e) in events.iter().enumerate() {
        let seq = i as i64 + 1;
        let content = e.canonical(seq).unwrap();
        let hash = link_hash(&prev, &content);
        sql.push(format!(
            "INSERT INTO audit_events (event_id, tenant_id, sequence, kind, occur_time, \
             record_time, agent_id, session_id, grant_id, content, prev_hash, hash) VALUES \
             ({}, 't1', {seq}, {}, {}, {}, {}, {}, {}, {}, '{prev}', '{hash}')",
            quoted(&e.event_id),
            quoted(e.kind.as_str()),
            e.occur_time.timestamp_micros(),
            T_US + 2 * 3_600_000_000 + seq,
            quoted(e.agent_id()),
            quoted(&e.session_id),
            quoted(&e.grant_id),
            quoted(&content),
        ));
        prev = hash;
    }
    sql.push(format!(
        "INSERT INTO audit_chain_heads VALUES ('t1', {}, '{prev}')",
        events.len()
    ));
    sql.push(format!(
        "INSERT INTO audit_checkpoints VALUES ('c1', 't1', 3, '{prev}', 'k1', 'sig', {T_US})"
    ));
    sql.push(format!(
        "INSERT INTO audit_notification_jobs VALUES ('j1', 't1', 'e-mode', 'tenant_admins', \
         'done', 0, {T_US}, '', {T_US})"
    ));
    sql.push(format!(
        "INSERT INTO audit_notifications VALUES ('n1', 'j1', 't1', 'e-mode', 'adm@x', 'Mode', \
         'text', '<p>html</p>', 'pending', 1, 'timeout', {}, 0, '', {T_US}, NULL)",
        T_US + 60_000_000
    ));
    sql
}

async fn has_column(db: &DatabaseConnection, table: &str, column: &str) -> bool {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT {column} FROM {table}"),
    ))
    .await
    .is_ok()
}

async fn assert_reads_back(db: &DatabaseConnection, events: &[NewEvent]) {
    let store = Store::new(db.clone(), ManualClock::new(at(T_US)));
    let rows = store.chain_rows("t1", 0, 100).await.unwrap();
    assert_eq!(rows.len(), events.len());
    let mut verifier = Verifier::new();
    for (row, e) in rows.iter().zip(events) {
        verifier.check(row).unwrap();
        assert_eq!(row.occur_time_us, e.occur_time.timestamp_micros());
        let (_, back) = NewEvent::from_canonical(&row.content).unwrap();
        assert_eq!(&back, e);
    }
    let stored = store.event("e-in").await.unwrap().unwrap();
    assert_eq!(stored.occur_time_us, T_US);
    assert_eq!(stored.record_time_us, T_US + 2 * 3_600_000_000 + 1);

    // m0002's back-fill built the login history from the old rows.
    let page = store
        .login_page("t1", &LoginQuery::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let (_, entry) = &page[0];
    assert_eq!(entry.sign_in_time, at(T_US));
    assert_eq!(entry.sign_out_time, Some(at(T_US) + Duration::minutes(30)));

    let mails = store
        .list_notifications("t1", Page::parse(10, "").unwrap())
        .await
        .unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        (mails[0].create_time_us, mails[0].next_attempt_time_us),
        (T_US, T_US + 60_000_000)
    );
    assert_eq!(mails[0].send_time_us, None);
    assert_eq!(
        store.checkpoints("t1").await.unwrap()[0].create_time_us,
        T_US
    );
}

#[tokio::test]
async fn a_database_from_m0001_keeps_its_events_and_instants() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(dir.path()).await;
    Migrator::up(&db, Some(1)).await.unwrap();
    let events = events();
    for sql in old_rows(&events) {
        db.execute_unprepared(&sql).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    assert!(has_column(&db, "audit_events", "occur_time_us").await);
    assert!(!has_column(&db, "audit_events", "occur_time").await);
    assert_reads_back(&db, &events).await;

    // Down through m0003 and m0002: m0001's names again, values untouched.
    Migrator::down(&db, Some(2)).await.unwrap();
    for (table, column) in OLD_COLUMNS {
        // m0002's way down drops the login history's table.
        if table != "audit_sign_ins" {
            assert!(has_column(&db, table, column).await, "{table}.{column}");
        }
    }
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT occur_time FROM audit_events WHERE event_id = 'e-in'".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "occur_time").unwrap(), T_US);

    // And up again ends where a single upgrade ends.
    Migrator::up(&db, None).await.unwrap();
    assert_reads_back(&db, &events).await;
}

#[tokio::test]
async fn a_database_left_at_m0002_by_the_old_code_is_renamed_by_m0003() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(dir.path()).await;
    Migrator::up(&db, Some(2)).await.unwrap();
    // What m0002 left before m0003 existed: every instant column under its
    // old name.
    for (table, column) in OLD_COLUMNS {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} RENAME COLUMN {column}_us TO {column}"
        ))
        .await
        .unwrap();
    }
    let events = events();
    for sql in old_rows(&events) {
        db.execute_unprepared(&sql).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    for (table, column) in OLD_COLUMNS {
        assert!(
            has_column(&db, table, &format!("{column}_us")).await,
            "{table}.{column}_us"
        );
        assert!(!has_column(&db, table, column).await, "{table}.{column}");
    }
    let store = Store::new(db.clone(), ManualClock::new(at(T_US)));
    let rows = store.chain_rows("t1", 0, 100).await.unwrap();
    let mut verifier = Verifier::new();
    for (row, e) in rows.iter().zip(&events) {
        verifier.check(row).unwrap();
        assert_eq!(row.occur_time_us, e.occur_time.timestamp_micros());
    }
    assert_eq!(rows.len(), events.len());
}
