//! Bringing every sealed column of a service's tables under the current
//! key-encryption key: plaintext left by an earlier version is sealed, and
//! values sealed with an older KEK of the ring are sealed again. Run at every
//! start-up and by `keyholder admin rotate-kek`; each row is written with a
//! compare-and-set on its old value, so running services are never
//! overwritten.

use crate::kek::{KekError, KekRing, Resealed};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr, Value};

/// A column holding sealed secrets, one per row.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    /// Table.
    pub table: &'static str,
    /// Primary-key column (text) whose value is bound into each envelope.
    pub key: &'static str,
    /// The sealed column.
    pub column: &'static str,
    /// The purpose bound into each envelope.
    pub purpose: &'static str,
    /// A BLOB/BYTEA column rather than text.
    pub binary: bool,
}

/// How many rows a reseal found in each state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    /// Plaintext rows sealed now.
    pub sealed_plaintext: u64,
    /// Rows sealed with an older KEK, sealed again with the current one.
    pub rewrapped: u64,
    /// Rows already under the current KEK.
    pub current: u64,
    /// Rows a running service changed between read and write (left as it wrote them).
    pub changed_meanwhile: u64,
}

impl ResealReport {
    /// Rows written.
    pub fn written(&self) -> u64 {
        self.sealed_plaintext + self.rewrapped
    }

    fn add(&mut self, other: ResealReport) {
        self.sealed_plaintext += other.sealed_plaintext;
        self.rewrapped += other.rewrapped;
        self.current += other.current;
        self.changed_meanwhile += other.changed_meanwhile;
    }
}

/// Why a reseal stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// The database failed.
    #[error("database error while resealing secrets: {0}")]
    Db(#[from] DbErr),
    /// A stored value does not open with any KEK held.
    #[error("{table}.{column} of row {row}: {source}")]
    Kek {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// The row's key.
        row: String,
        /// The cause.
        source: KekError,
    },
}

fn value(binary: bool, bytes: Vec<u8>) -> Result<Value, Vec<u8>> {
    if binary {
        Ok(bytes.into())
    } else {
        String::from_utf8(bytes)
            .map(Into::into)
            .map_err(|e| e.into_bytes())
    }
}

/// Reseals every non-null value of `col`.
pub async fn reseal_column<C: ConnectionTrait>(
    conn: &C,
    ring: &KekRing,
    col: &SealedColumn,
) -> Result<ResealReport, ResealError> {
    let select = Query::select()
        .column(Alias::new(col.key))
        .column(Alias::new(col.column))
        .from(Alias::new(col.table))
        .and_where(Expr::col(Alias::new(col.column)).is_not_null())
        .to_owned();
    let mut report = ResealReport::default();
    for row in conn.query_all(&select).await? {
        let key: String = row.try_get("", col.key)?;
        let stored: Vec<u8> = if col.binary {
            row.try_get("", col.column)?
        } else {
            row.try_get::<String>("", col.column)?.into_bytes()
        };
        let kek = |source| ResealError::Kek {
            table: col.table,
            column: col.column,
            row: key.clone(),
            source,
        };
        let fresh = match ring.reseal(col.purpose, &key, &stored).map_err(kek)? {
            Resealed::Current => {
                report.current += 1;
                continue;
            }
            Resealed::Rewrapped(e) => {
                report.rewrapped += 1;
                e
            }
            Resealed::WasPlaintext(e) => {
                report.sealed_plaintext += 1;
                e
            }
        };
        let (Ok(old), Ok(new)) = (
            value(col.binary, stored),
            value(col.binary, fresh.into_bytes()),
        ) else {
            return Err(kek(KekError::Malformed(col.purpose.to_string())));
        };
        let update = Query::update()
            .table(Alias::new(col.table))
            .value(Alias::new(col.column), new)
            .and_where(Expr::col(Alias::new(col.key)).eq(key.clone()))
            .and_where(Expr::col(Alias::new(col.column)).eq(old))
            .to_owned();
        if conn.execute(&update).await?.rows_affected() == 0 {
            report.changed_meanwhile += 1;
        }
    }
    Ok(report)
}

/// Reseals every column in `cols`, logging what changed.
pub async fn reseal_all<C: ConnectionTrait>(
    conn: &C,
    ring: &KekRing,
    cols: &[SealedColumn],
) -> Result<ResealReport, ResealError> {
    let mut total = ResealReport::default();
    for col in cols {
        let r = reseal_column(conn, ring, col).await?;
        if r.written() > 0 {
            tracing::info!(
                table = col.table,
                column = col.column,
                sealed_plaintext = r.sealed_plaintext,
                rewrapped = r.rewrapped,
                kek_id = ring.current_id(),
                "secrets sealed with the current key-encryption key"
            );
        }
        total.add(r);
    }
    Ok(total)
}
