//! The outbox moves onto the kit's one shape (ADR 0017): `_us` instants
//! (ADR 0016; identity stored seconds), lease and backoff columns, and
//! `dead_at_us` for what `rejected_at` held. Every row is kept.

use keyholder_kit::outbox::schema;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The old rows in the new shape (seconds become microseconds).
const COPY: &str = "SELECT seq, event_id, tenant_id, payload, secret, traceparent, \
    created_at * 1000000, attempts, 0, NULL, NULL, \
    delivered_at * 1000000, rejected_at * 1000000, last_error \
    FROM identity_outbox_old";

/// Back to the old shape (microseconds become seconds).
const COPY_BACK: &str = "INSERT INTO identity_outbox_old \
    (seq, event_id, tenant_id, payload, secret, traceparent, created_at, attempts, \
     delivered_at, rejected_at, last_error) \
    SELECT seq, event_id, tenant_id, payload, secret, traceparent, created_at_us / 1000000, \
    attempts, delivered_at_us / 1000000, dead_at_us / 1000000, last_error FROM identity_outbox";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend: the rename, copy and drop happen on
    /// one connection and all together, or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        schema::rebuild(db, &crate::store::outbox::OUTBOX, COPY).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        schema::restore(db, &crate::store::outbox::OUTBOX, OLD_COLUMNS, COPY_BACK).await
    }
}

/// The old table's columns (`{pk}`, `{blob}`: the backend's types).
const OLD_COLUMNS: &str = "seq {pk}, event_id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, payload {blob} NOT NULL, created_at BIGINT NOT NULL, delivered_at BIGINT NULL, attempts BIGINT NOT NULL, rejected_at BIGINT NULL, last_error TEXT NOT NULL DEFAULT '', secret TEXT NULL, traceparent TEXT NULL";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use crate::migrations::Migrator;
    use crate::store::entities::outbox;
    use crate::store::outbox::OUTBOX;
    use keyholder_kit::secret::Secret;
    use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
    use sea_orm_migration::MigratorTrait;

    #[tokio::test]
    async fn old_rows_keep_their_data_in_the_new_shape() {
        let (db, _dir, pg) = fresh().await;
        Migrator::up(&db, Some(8)).await.unwrap();
        let blob = |n: u8| {
            if pg.is_some() {
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
        // And back down, the same rows in the old shape.
        // Back down through the later migrations and this one.
        Migrator::down(&db, Some(3)).await.unwrap();
        let back = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM identity_outbox WHERE created_at = 300 AND rejected_at IS NULL",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(back, 1);
        if let Some((admin, name)) = pg {
            db.close().await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE {name}"))
                .await
                .unwrap();
        }
    }

    /// A fresh database: an SQLite file, or a new database on the
    /// PostgreSQL test server (with the server connection, to drop it).
    async fn fresh() -> (
        sea_orm::DatabaseConnection,
        tempfile::TempDir,
        Option<(sea_orm::DatabaseConnection, String)>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        if let Ok(url) = std::env::var("KEYHOLDER_TEST_DATABASE_URL") {
            let admin = keyholder_kit::db::connect(&Secret::new(url.clone()))
                .await
                .unwrap();
            let name = format!("kh_migration_{}", uuid::Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
            let db = keyholder_kit::db::connect(&Secret::new(format!("{base}/{name}")))
                .await
                .unwrap();
            return (db, dir, Some((admin, name)));
        }
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let db = keyholder_kit::db::connect(&Secret::new(url)).await.unwrap();
        (db, dir, None)
    }
}
