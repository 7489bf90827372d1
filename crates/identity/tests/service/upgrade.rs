//! A database written while identity stored seconds keeps its instants
//! through m0010 (microseconds in `_us` columns, ADR 0016).

use crate::*;
use chrono::{DateTime, Duration};
use keyholder_identity::migrations::Migrator;
use keyholder_identity::store::Store;
use keyholder_identity::store::entities::outbox;
use keyholder_identity::store::outbox::OUTBOX;
use keyholder_kit::config::ServiceName;
use keyholder_testkit::db::down_through;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use sea_orm_migration::MigratorTrait;

/// An instant as the old columns held it: seconds.
const T: i64 = 1_790_000_000;

#[tokio::test]
async fn an_upgraded_database_reads_back_the_same_instants() {
    let mut s = Suite::new().await;
    let db = keyholder_kit::db::connect(&s.config.database_url(ServiceName::Identity))
        .await
        .unwrap();
    // The schema as the release before m0010 left it, and rows it wrote.
    Migrator::up(&db, Some(8)).await.unwrap();
    let deadline = T + 10 * 86_400;
    let rows = [
        format!(
            "INSERT INTO identity_tenants (tenant_id, name, locale, seat_limit, chief_admin_id, \
             created_at, invitation_policy) VALUES ('t1', 'Acme', 'en', 3, 'u0', {T}, 'everyone')"
        ),
        format!(
            "INSERT INTO identity_users (user_id, tenant_id, email, display_name, kind, admin, \
             active, password_hash, totp_enabled, partner_id, totp_deadline, failed_attempts, \
             locked_until, created_at) VALUES ('u1', 't1', 'ann@partner.example', 'Ann', \
             'integrator', FALSE, TRUE, 'x', FALSE, 'p1', {deadline}, 2, NULL, {T})"
        ),
        format!(
            "INSERT INTO identity_invitations (invitation_id, tenant_id, partner_id, email, \
             display_name, inviter_id, token_hash, state, user_id, created_at_secs, \
             expire_at_secs, closed_at_secs) VALUES ('i1', 't1', 'p1', 'ann@partner.example', \
             'Ann', 'u0', 'h', 'accepted', 'u1', {T}, {deadline}, {T})"
        ),
        format!(
            "INSERT INTO identity_standing_log (principal_id, version, active, reason, \
             tenant_id, kind, created_at_ms) VALUES ('u1', 1, FALSE, 'deactivated', 't1', \
             'integrator', {T}123)"
        ),
        format!(
            "INSERT INTO identity_sign_in_throttle (throttle_key, failures, last_failure_at) \
             VALUES ('acct:a', 4, {T})"
        ),
        format!(
            "INSERT INTO identity_refresh_families (family_id, user_id, amr, created_at, \
             revoked_at) VALUES ('f1', 'u1', 'pwd', {T}, {T})"
        ),
    ];
    for sql in rows {
        db.execute_unprepared(&sql).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();

    let kek = keyholder_kit::kek::KekRing::from_config(&s.config).unwrap();
    let store = Store::new(db, kek, keyholder_kit::clock::system());
    let at = DateTime::from_timestamp(T, 0).unwrap();
    let u = store.user("u1").await.unwrap().unwrap();
    assert_eq!(u.created_at, at);
    assert_eq!(u.totp_deadline, Some(at + Duration::days(10)));
    assert_eq!(store.tenant("t1").await.unwrap().unwrap().created_at, at);
    let inv = store.invitation("i1").await.unwrap().unwrap();
    assert_eq!(
        (inv.created_at, inv.expire_at, inv.closed_at),
        (at, at + Duration::days(10), Some(at))
    );
    let changes = store.standing_changes(0, 10).await.unwrap();
    assert_eq!(
        changes[0].at,
        DateTime::from_timestamp_millis(T * 1_000 + 123).unwrap()
    );
    let counters = store.sign_in_counters("src:x", "acct:a").await.unwrap();
    let account = counters.account.unwrap();
    assert_eq!((account.failures, account.last_failure_at), (4, at));
    let family = store.family("f1").await.unwrap().unwrap();
    assert_eq!((family.created_at, family.revoked_at), (at, Some(at)));

    // And the service starts on the upgraded database.
    s.start_identity().await;
    s.operator_token().await;
}

/// The outbox's move onto the kit's one shape keeps every row, and goes
/// back down.
#[tokio::test]
async fn the_outbox_migration_keeps_old_rows_in_the_new_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = keyholder_testkit::db::scratch_database(dir.path(), "identity.db").await;
    let pg = keyholder_testkit::db::on_postgres();
    Migrator::up(&db, Some(8)).await.unwrap();
    let blob = |n: u8| {
        if pg {
            format!("'\\x0{n}'::bytea")
        } else {
            format!("x'0{n}'")
        }
    };
    let (b1, b2, b3) = (blob(1), blob(2), blob(3));
    db.execute_unprepared(&format!(
        "INSERT INTO identity_outbox (event_id, tenant_id, payload, created_at, delivered_at, \
         attempts, rejected_at, last_error, secret, traceparent) VALUES \
         ('a', 't', {b1}, 100, 101, 2, NULL, '', NULL, NULL), \
         ('b', 't', {b2}, 200, NULL, 5, 201, 'too long', NULL, 'tp'), \
         ('c', 'u', {b3}, 300, NULL, 1, NULL, '', 'sealed', NULL)"
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
                r.secret.as_deref(),
                r.last_error.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, "a", 100_000_000, Some(101_000_000), None, 2, None, ""),
            (
                2,
                "b",
                200_000_000,
                None,
                Some(201_000_000),
                5,
                None,
                "too long"
            ),
            (3, "c", 300_000_000, None, None, 1, Some("sealed"), ""),
        ]
    );
    assert_eq!(rows[1].traceparent.as_deref(), Some("tp"));
    assert_eq!(OUTBOX.pending(&db).await.unwrap(), 1);
    assert_eq!(OUTBOX.dead_letters(&db).await.unwrap()[0].event_id, "b");
    // Back down through the later migrations and this one: the same rows
    // in the old shape.
    down_through::<Migrator>(&db, "m0009_one_outbox").await;
    let back = keyholder_testkit::db::count(
        &db,
        "SELECT COUNT(*) FROM identity_outbox WHERE created_at = 300 AND rejected_at IS NULL",
    )
    .await;
    assert_eq!(back, 1);
    // Every row keeps what it held: the delivered one, the dead letter.
    let kept = keyholder_testkit::db::count(
        &db,
        "SELECT COUNT(*) FROM identity_outbox WHERE \
         (event_id = 'a' AND delivered_at = 101 AND rejected_at IS NULL AND attempts = 2) \
         OR (event_id = 'b' AND delivered_at IS NULL AND rejected_at = 201 AND last_error = 'too long')",
    )
    .await;
    assert_eq!(kept, 2);
}
