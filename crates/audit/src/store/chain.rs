//! Reading the chain for verification; checkpoints and the signing key
//! (its private half sealed with the key-encryption key).

use super::Store;
use super::copy_binary::{CopyError, Decoder};
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

/// The scan on PostgreSQL, as a binary copy (read by
/// [`super::copy_binary`], columns in its order). COPY takes no bind
/// parameters, so the bounds are settings of the copy's own transaction,
/// set first with bound values: nothing is spliced into the SQL, and no
/// other statement (nor another client behind a transaction-pooling proxy)
/// can see them.
const SCAN_COPY_PG: &str = "COPY (SELECT sequence, tenant_id, event_id, kind, occur_time_us, agent_id, session_id, grant_id, content, prev_hash, hash FROM audit_events WHERE tenant_id = current_setting('keyholder.scan_tenant') AND sequence > current_setting('keyholder.scan_after')::bigint AND sequence <= current_setting('keyholder.scan_through')::bigint ORDER BY sequence) TO STDOUT (FORMAT binary)";
const SCAN_BOUNDS_PG: &str = "SELECT set_config('keyholder.scan_tenant', $1, true), set_config('keyholder.scan_after', $2, true), set_config('keyholder.scan_through', $3, true)";
/// The scan on SQLite, columns in [`row_ref`]'s order.
const SCAN_SQL_SQLITE: &str = "SELECT sequence, tenant_id, event_id, kind, occur_time_us, agent_id, session_id, grant_id, content, prev_hash, hash FROM audit_events WHERE tenant_id = ?1 AND sequence > ?2 AND sequence <= ?3 ORDER BY sequence";

/// Borrows one scanned row's columns from the driver's buffer.
fn row_ref(row: &sqlx::sqlite::SqliteRow) -> Result<ChainRowRef<'_>, sqlx::Error> {
    use sqlx::Row;
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

/// Streams a tenant's rows with `after < sequence <= through` from SQLite
/// into `visit`, until they end or `visit` breaks.
async fn scan_sqlite<F>(
    pool: &sqlx::SqlitePool,
    tenant_id: &str,
    after: i64,
    through: i64,
    visit: &mut F,
) -> Result<(), sqlx::Error>
where
    F: FnMut(ChainRowRef<'_>) -> ControlFlow<()>,
{
    let mut rows = sqlx::query(SCAN_SQL_SQLITE)
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

/// The same scan on PostgreSQL, through a binary copy: cheaper per row than
/// a result set, which matters when a full pass reads millions.
async fn scan_copy_pg<F>(
    pool: &sqlx::PgPool,
    tenant_id: &str,
    after: i64,
    through: i64,
    visit: &mut F,
) -> Result<(), sqlx::Error>
where
    F: FnMut(ChainRowRef<'_>) -> ControlFlow<()>,
{
    let mut c = CopyConnection {
        conn: pool.acquire().await?,
        finished: false,
    };
    let mut tx = sqlx::Connection::begin(&mut *c.conn).await?;
    sqlx::query(SCAN_BOUNDS_PG)
        .bind(tenant_id)
        .bind(after.to_string())
        .bind(through.to_string())
        .execute(&mut *tx)
        .await?;
    // The verifier checks each row against its own content, not against
    // the tenant asked for: make sure the copy only holds that tenant's.
    let mut foreign = false;
    let mut own_tenant = |row: ChainRowRef<'_>| {
        if row.tenant_id == tenant_id {
            visit(row)
        } else {
            foreign = true;
            ControlFlow::Break(())
        }
    };
    let read_to_end = read_copy(&mut tx, &mut own_tenant).await?;
    if foreign {
        return Err(sqlx::Error::Protocol(
            "the chain's copy returned a row of another tenant".into(),
        ));
    }
    if read_to_end {
        tx.commit().await?;
        c.finished = true;
    }
    Ok(())
}

/// A pooled connection that goes back to the pool only once its copy was
/// read to the end and the transaction committed. Dropped any earlier (the
/// verifier stopped at a broken row, an error, or the caller's future
/// dropped mid-copy by a client hanging up or a deadline), it may still be
/// receiving the copy, which sqlx does not drain (the next query would read
/// the copy's leftovers as its own answer): it is closed instead.
struct CopyConnection {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    finished: bool,
}

impl Drop for CopyConnection {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}

/// Feeds the copy to `visit`; `Ok(true)` when it was read to its end,
/// `Ok(false)` when `visit` stopped it.
async fn read_copy<F>(conn: &mut sqlx::PgConnection, visit: &mut F) -> Result<bool, sqlx::Error>
where
    F: FnMut(ChainRowRef<'_>) -> ControlFlow<()>,
{
    let protocol = |e: CopyError| sqlx::Error::Protocol(format!("reading the chain's copy: {e}"));
    let mut decoder = Decoder::new();
    let mut chunks = conn.copy_out_raw(SCAN_COPY_PG).await?;
    while let Some(chunk) = chunks.next().await {
        if decoder.feed(&chunk?, visit).map_err(protocol)? {
            return Ok(false);
        }
    }
    decoder.finish().map_err(protocol)?;
    Ok(true)
}

impl Store {
    /// Streams a tenant's chain rows with `after < sequence <= through`, in
    /// sequence order, handing each to `visit` borrowed from the driver's
    /// buffer (a binary copy on PostgreSQL, one query on SQLite). Stops
    /// early when `visit` breaks.
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
                scan_copy_pg(pool, tenant_id, after, through, &mut visit).await
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                scan_sqlite(pool, tenant_id, after, through, &mut visit).await
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
