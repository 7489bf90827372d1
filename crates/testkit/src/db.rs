//! A fresh database for each test.

use keyholder_kit::secret::Secret;
use sea_orm::{ConnectionTrait, Database};
use std::path::Path;

/// The environment variable that switches tests to PostgreSQL: an admin URL
/// from which a fresh database is created per test suite.
pub const TEST_DATABASE_URL: &str = "KEYHOLDER_TEST_DATABASE_URL";
/// Prefix of databases made by tests (CI drops leftovers by it).
pub const DATABASE_PREFIX: &str = "kh_test_";

/// Database URLs of one suite.
pub struct FreshUrls {
    /// Identity's.
    pub identity: Secret,
    /// Broker's.
    pub broker: Secret,
    /// Audit's.
    pub audit: Secret,
}

/// True when tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(TEST_DATABASE_URL).is_ok_and(|v| !v.is_empty())
}

/// SQLite files in `dir`, or one new PostgreSQL database shared by the three
/// services (their tables and migration tables are prefixed, so they never
/// collide, just as in a shared production database).
pub async fn fresh_urls(dir: &Path) -> FreshUrls {
    if on_postgres() {
        let url = fresh_postgres_database().await;
        FreshUrls {
            identity: url.clone(),
            broker: url.clone(),
            audit: url,
        }
    } else {
        let file = |n: &str| {
            Secret::new(format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{n}.db")).display()
            ))
        };
        FreshUrls {
            identity: file("identity"),
            broker: file("broker"),
            audit: file("audit"),
        }
    }
}

/// Creates an empty PostgreSQL database and returns its URL.
pub async fn fresh_postgres_database() -> Secret {
    let admin = std::env::var(TEST_DATABASE_URL).expect("KEYHOLDER_TEST_DATABASE_URL");
    let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let conn = Database::connect(admin.as_str())
        .await
        .expect("connect to the PostgreSQL admin database");
    conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let _ = conn.close().await;
    Secret::new(keyholder_kit::db::sibling_database_url(&admin, &name))
}

/// One empty database for a migration test: a fresh PostgreSQL database
/// when the suite runs on PostgreSQL, else the SQLite file `file` in `dir`.
pub async fn scratch_database(dir: &Path, file: &str) -> sea_orm::DatabaseConnection {
    let url = if on_postgres() {
        fresh_postgres_database().await.expose().to_string()
    } else {
        format!("sqlite://{}?mode=rwc", dir.join(file).display())
    };
    Database::connect(url.as_str())
        .await
        .expect("connect to a scratch database")
}

/// The single number `sql` (a `SELECT COUNT(*) …`) answers.
pub async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .expect("count query")
    .expect("a row")
    .try_get_by_index::<i64>(0)
    .expect("a count")
}

/// Undoes migration `name` and every one after it (all applied), so an
/// upgrade test names the migration it goes back below instead of counting
/// steps that a new migration would shift.
pub async fn down_through<M: sea_orm_migration::MigratorTrait>(
    db: &sea_orm::DatabaseConnection,
    name: &str,
) {
    let pending = M::get_pending_migrations(db)
        .await
        .expect("read the migrations table");
    assert!(
        pending.is_empty(),
        "down_through counts from a fully migrated database"
    );
    let names: Vec<String> = M::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let at = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no migration named {name} in {names:?}"));
    let steps = u32::try_from(names.len() - at).expect("a handful of migrations");
    M::down(db, Some(steps)).await.expect("migrate down");
}
