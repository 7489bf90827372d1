//! Database connect and migrate: an SQLite file by default, PostgreSQL by URL.

use crate::secret::Secret;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

/// Why the database could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    /// Connecting failed (the URL itself is never printed: it may hold a password).
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The cause.
        source: DbErr,
    },
    /// The URL is neither SQLite nor PostgreSQL.
    #[error("database url must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    /// Making the SQLite file's folder failed.
    #[error("cannot create the database folder or file: {0}")]
    Folder(std::io::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
    /// Migrating at start is off and the schema is behind this release.
    #[error(
        "the database schema is {0} migration(s) behind this release; run `keyholder migrate` first"
    )]
    NotMigrated(usize),
}

/// Connects, creating an SQLite file (and its folder) when needed.
pub async fn connect(url: &Secret) -> Result<DatabaseConnection, DbSetupError> {
    let raw = url.expose();
    let sqlite = raw.starts_with("sqlite:");
    if !(sqlite || raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
        return Err(DbSetupError::UnsupportedUrl);
    }
    let mut url = raw.to_string();
    if sqlite {
        let path = raw
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        if !path.is_empty()
            && path != ":memory:"
            && let Some(dir) = std::path::Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
        {
            crate::files::create_private_dir(dir).map_err(DbSetupError::Folder)?;
        }
        // SQLite gives its -wal and -shm files the database file's mode, so
        // creating the file 0600 first keeps all three owner-only.
        if !path.is_empty() && path != ":memory:" && !path.starts_with("file:") {
            crate::files::touch_private_file(std::path::Path::new(path))
                .map_err(DbSetupError::Folder)?;
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    let nodelay_port = (!sqlite)
        .then(|| crate::pg_nodelay::port_of(&url))
        .flatten();
    let mut opts = ConnectOptions::new(url);
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if sqlite {
        // WAL lets readers run beside the one writer; the busy timeout makes a
        // second writer wait instead of failing.
        opts.max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        opts.max_connections(16).min_connections(1);
        if let Some(port) = nodelay_port {
            opts.map_sqlx_postgres_pool_opts(move |pool| {
                pool.after_connect(move |_, _| {
                    Box::pin(async move {
                        // Without it a large statement waits ~40 ms for a
                        // delayed ACK; failing to set it costs speed only.
                        if let Err(e) = crate::pg_nodelay::on_sockets_to(port) {
                            tracing::warn!(error = %e, "cannot turn Nagle off on database connections; large statements may wait for delayed ACKs");
                        }
                        Ok(())
                    })
                })
            });
        }
    }
    let backend = if sqlite { "sqlite" } else { "postgres" };
    Database::connect(opts)
        .await
        .map_err(|source| DbSetupError::Connect { backend, source })
}

/// `url` naming database `name` instead of its own, on the same server and
/// with the same options: a sibling database (tests make one per test).
pub fn sibling_database_url(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Brings the schema up to date; how many migrations that ran. Each
/// service's migrator keeps its own migrations table, so services may share
/// one PostgreSQL database.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<usize, DbSetupError> {
    under_migration_lock::<M, _, _>(db, async {
        let pending = M::get_pending_migrations(db).await?.len();
        M::up(db, None).await?;
        Ok(pending)
    })
    .await
}

/// How many migrations of `M` the database has not run yet.
pub async fn pending<M: MigratorTrait>(db: &DatabaseConnection) -> Result<usize, DbSetupError> {
    // Reading creates the migrations table when missing, so it takes the lock too.
    under_migration_lock::<M, _, _>(db, async { Ok(M::get_pending_migrations(db).await?.len()) })
        .await
}

/// Runs `work` on PostgreSQL under a transaction-scoped advisory lock named
/// after `M`'s migrations table: replicas (or `keyholder migrate` Jobs)
/// starting together on a fresh database take turns instead of racing to
/// create the same tables and types. An SQLite file belongs to one process.
async fn under_migration_lock<M, F, T>(db: &DatabaseConnection, work: F) -> Result<T, DbSetupError>
where
    M: MigratorTrait,
    F: std::future::Future<Output = Result<T, DbErr>>,
{
    if !is_postgres(db) {
        return work.await.map_err(DbSetupError::Migrate);
    }
    let key = lock_key(&M::migration_table_name().to_string());
    // The lock lives as long as this transaction holds its connection; the
    // migrations themselves run on other connections of the pool.
    let lock = db.begin().await.map_err(DbSetupError::Migrate)?;
    lock.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await
    .map_err(DbSetupError::Migrate)?;
    let outcome = work.await.map_err(DbSetupError::Migrate);
    // Ending the transaction releases the lock either way.
    lock.commit().await.map_err(DbSetupError::Migrate)?;
    outcome
}

/// A stable 64-bit advisory-lock key for a name (FNV-1a: the same in every
/// process and release, unlike `std`'s randomly seeded hasher).
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Connects, then migrates when `migrate` is set; otherwise refuses a
/// database whose schema is behind this release (`keyholder migrate` brings
/// it up to date, e.g. from a Kubernetes init container).
pub async fn open<M: MigratorTrait>(
    url: &Secret,
    migrate_now: bool,
) -> Result<DatabaseConnection, DbSetupError> {
    let db = connect(url).await?;
    if migrate_now {
        let ran = migrate::<M>(&db).await?;
        if ran > 0 {
            tracing::info!(migrations = ran, "database schema brought up to date");
        }
    } else {
        let behind = pending::<M>(&db).await?;
        if behind > 0 {
            return Err(DbSetupError::NotMigrated(behind));
        }
    }
    Ok(db)
}

/// True for PostgreSQL connections.
pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Whether `e` is PostgreSQL refusing a NUL character in text. SQLite stores
/// it; PostgreSQL cannot, so a value no input rule caught would otherwise end
/// as an internal error. The services answer it as the caller's mistake.
pub fn is_nul_in_text(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    text.contains("invalid byte sequence for encoding") && text.contains("0x00")
}

/// What a caller is told when [`is_nul_in_text`].
pub const NUL_IN_TEXT: &str = "text fields must not contain NUL characters";

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Statement};

    #[test]
    fn a_sibling_database_keeps_the_server_and_the_options() {
        assert_eq!(
            sibling_database_url("postgres://u@h:5433/postgres?sslmode=disable", "kh_1"),
            "postgres://u@h:5433/kh_1?sslmode=disable"
        );
        assert_eq!(
            sibling_database_url("postgres://u@h/postgres", "kh_2"),
            "postgres://u@h/kh_2"
        );
    }

    /// On PostgreSQL (when the suite runs there), a NUL in a text parameter
    /// is recognised as the caller's mistake; other errors are not.
    #[tokio::test]
    async fn a_nul_in_text_is_recognised_on_postgresql() {
        let Ok(url) = std::env::var("KEYHOLDER_TEST_DATABASE_URL") else {
            return;
        };
        let db = connect(&Secret::new(url))
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        let nul = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT $1::text",
                ["a\0b".into()],
            ))
            .await;
        assert!(nul.as_ref().is_err_and(is_nul_in_text), "{nul:?}");
        let other = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT * FROM no_such_table",
            ))
            .await;
        assert!(
            other.as_ref().is_err_and(|e| !is_nul_in_text(e)),
            "{other:?}"
        );
    }
}
