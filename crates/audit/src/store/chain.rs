//! Reading the chain for verification; checkpoints and the signing key
//! (its private half sealed with the key-encryption key).

use super::Store;
use super::entities::{checkpoint, event, head, signing_key};
use crate::domain::chain::{ChainRow, ChainRowRef};
use crate::error::Error;
use keyholder_kit::kek::KekRing;
use keyholder_kit::sealed::{ResealError, ResealReport, SealedColumn, reseal_all};
use sea_orm::sqlx;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm::{ConnectionTrait, DbBackend};
use std::ops::ControlFlow;
use tokio_stream::StreamExt;

impl From<event::Model> for ChainRow {
    fn from(m: event::Model) -> Self {
        ChainRow {
            sequence: m.sequence,
            tenant_id: m.tenant_id,
            event_id: m.event_id,
            kind: m.kind,
            occur_time_us: m.occur_time_us,
            agent_id: m.agent_id,
            session_id: m.session_id,
            grant_id: m.grant_id,
            content: m.content,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// Purpose bound into a checkpoint key's envelope (row: the key id).
pub const CHECKPOINT_KEY: &str = "audit.checkpoint_key";

/// Every sealed column of audit's tables.
pub const SEALED_COLUMNS: &[SealedColumn] = &[SealedColumn {
    table: "audit_signing_keys",
    key: "key_id",
    column: "private_key",
    purpose: CHECKPOINT_KEY,
    binary: false,
}];

/// Brings every audit secret in `conn` under `ring`'s current KEK
/// (start-up and `keyholder admin rotate-kek`).
pub async fn reseal<C: ConnectionTrait>(
    conn: &C,
    ring: &KekRing,
) -> Result<ResealReport, ResealError> {
    reseal_all(conn, ring, SEALED_COLUMNS).await
}

/// The columns verification reads, in [`row_ref`]'s order.
const SCAN_SQL_PG: &str = "SELECT sequence, tenant_id, event_id, kind, occur_time_us, agent_id, session_id, grant_id, content, prev_hash, hash FROM audit_events WHERE tenant_id = $1 AND sequence > $2 AND sequence <= $3 ORDER BY sequence";
const SCAN_SQL_SQLITE: &str = "SELECT sequence, tenant_id, event_id, kind, occur_time_us, agent_id, session_id, grant_id, content, prev_hash, hash FROM audit_events WHERE tenant_id = ?1 AND sequence > ?2 AND sequence <= ?3 ORDER BY sequence";

/// Borrows one scanned row's columns from the driver's buffer.
fn row_ref<R>(row: &R) -> Result<ChainRowRef<'_>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ChainRowRef {
        sequence: row.try_get(0)?,
        tenant_id: row.try_get(1)?,
        event_id: row.try_get(2)?,
        kind: row.try_get(3)?,
        occur_time_us: row.try_get(4)?,
        agent_id: row.try_get(5)?,
        session_id: row.try_get(6)?,
        grant_id: row.try_get(7)?,
        content: row.try_get(8)?,
        prev_hash: row.try_get(9)?,
        hash: row.try_get(10)?,
    })
}

/// Streams the rows `sql` selects (bound to `tenant_id`, `after`, `through`)
/// from `pool` into `visit`, until they end or `visit` breaks: one body for
/// both drivers, whose pools differ in type.
async fn scan_rows<DB, F>(
    pool: &sqlx::Pool<DB>,
    sql: &'static str,
    tenant_id: &str,
    after: i64,
    through: i64,
    visit: &mut F,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + for<'q> sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    F: FnMut(ChainRowRef<'_>) -> ControlFlow<()>,
{
    let mut rows = sqlx::query(sql)
        .bind(tenant_id)
        .bind(after)
        .bind(through)
        .fetch(pool);
    while let Some(row) = rows.next().await {
        if visit(row_ref(&row?)?).is_break() {
            break;
        }
    }
    Ok(())
}

impl Store {
    /// Streams a tenant's chain rows with `after < sequence <= through`, in
    /// sequence order, in one query, handing each to `visit` borrowed from
    /// the driver's buffer (nothing is copied per row). Stops early when
    /// `visit` breaks.
    pub async fn scan_chain<F>(
        &self,
        tenant_id: &str,
        after: i64,
        through: i64,
        mut visit: F,
    ) -> Result<(), Error>
    where
        F: FnMut(ChainRowRef<'_>) -> ControlFlow<()>,
    {
        let scanned = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                scan_rows(pool, SCAN_SQL_PG, tenant_id, after, through, &mut visit).await
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                scan_rows(pool, SCAN_SQL_SQLITE, tenant_id, after, through, &mut visit).await
            }
            other => return Err(Error::Internal(format!("audit does not run on {other:?}"))),
        };
        scanned.map_err(|e| Error::Db(sea_orm::DbErr::Custom(format!("scanning the chain: {e}"))))
    }

    /// Up to `limit` rows of a tenant's chain after `after_sequence`, by sequence.
    pub async fn chain_rows(
        &self,
        tenant_id: &str,
        after_sequence: i64,
        limit: u64,
    ) -> Result<Vec<ChainRow>, Error> {
        Ok(event::Entity::find()
            .filter(event::Column::TenantId.eq(tenant_id))
            .filter(event::Column::Sequence.gt(after_sequence))
            .order_by_asc(event::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(ChainRow::from)
            .collect())
    }

    /// A tenant's chain head, if it has events.
    pub async fn head(&self, tenant_id: &str) -> Result<Option<head::Model>, Error> {
        Ok(head::Entity::find_by_id(tenant_id.to_string())
            .one(&self.db)
            .await?)
    }

    /// Every chain head.
    pub async fn heads(&self) -> Result<Vec<head::Model>, Error> {
        Ok(head::Entity::find().all(&self.db).await?)
    }

    /// A tenant's checkpoints, oldest first.
    pub async fn checkpoints(&self, tenant_id: &str) -> Result<Vec<checkpoint::Model>, Error> {
        Ok(checkpoint::Entity::find()
            .filter(checkpoint::Column::TenantId.eq(tenant_id))
            .order_by_asc(checkpoint::Column::Sequence)
            .all(&self.db)
            .await?)
    }

    /// A tenant's latest checkpoint.
    pub async fn latest_checkpoint(
        &self,
        tenant_id: &str,
    ) -> Result<Option<checkpoint::Model>, Error> {
        Ok(checkpoint::Entity::find()
            .filter(checkpoint::Column::TenantId.eq(tenant_id))
            .order_by_desc(checkpoint::Column::Sequence)
            .one(&self.db)
            .await?)
    }

    /// Stores a checkpoint (a second one for the same place is ignored).
    pub async fn insert_checkpoint(
        &self,
        tenant_id: &str,
        sequence: i64,
        hash: &str,
        key_id: &str,
        signature: &str,
    ) -> Result<(), Error> {
        checkpoint::Entity::insert(checkpoint::ActiveModel {
            checkpoint_id: Set(uuid::Uuid::new_v4().to_string()),
            tenant_id: Set(tenant_id.to_string()),
            sequence: Set(sequence),
            hash: Set(hash.to_string()),
            key_id: Set(key_id.to_string()),
            signature: Set(signature.to_string()),
            create_time_us: Set(self.now_us()),
        })
        .on_conflict_do_nothing_on([checkpoint::Column::TenantId, checkpoint::Column::Sequence])
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Every signing key.
    pub async fn signing_keys(&self) -> Result<Vec<signing_key::Model>, Error> {
        Ok(signing_key::Entity::find()
            .order_by_asc(signing_key::Column::CreateTimeUs)
            .all(&self.db)
            .await?)
    }

    /// Stores a new signing key (its private half already sealed).
    pub async fn insert_signing_key(
        &self,
        key_id: &str,
        private_key: &str,
        public_key: &str,
    ) -> Result<(), Error> {
        signing_key::Entity::insert(signing_key::ActiveModel {
            key_id: Set(key_id.to_string()),
            private_key: Set(private_key.to_string()),
            public_key: Set(public_key.to_string()),
            create_time_us: Set(self.now_us()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }
}
