//! One transactional outbox for the suite (ADRs 0002, 0017): a service writes
//! what it owes others into its outbox table in the same database
//! transaction as the change ([`Outbox::enqueue`]), and a [`Relay`] delivers
//! it afterwards, at least once, in order per tenant.
//!
//! - One table shape ([`schema`]) under each service's own name.
//! - Leases: a relay claims a batch by setting `lease_owner` and
//!   `leased_until_us` (claims are serialised: an advisory lock on
//!   PostgreSQL, the write lock on SQLite), so two replicas never deliver a
//!   row at once; a relay that dies lets its lease lapse.
//! - Backoff per row ([`Backoff`]), dead letters after
//!   [`RelayOptions::max_attempts`] or when the receiver refuses a row for
//!   good (kept, with the reason, never resent).
//! - A shutdown check after every batch, and pruning of delivered rows
//!   older than [`RelayOptions::retention`].

pub mod audit;
mod backoff;
mod relay;
mod rows;
pub mod schema;
#[cfg(test)]
mod tests;

pub use backoff::Backoff;
pub use relay::{Outcome, Relay, RelayOptions, Report, Sink};
pub use rows::{DeadLetter, Message};

use crate::instant::to_stored;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// A service's outbox table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbox {
    table: &'static str,
}

/// A row to write.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The receiver's idempotency key (unique in the table).
    pub event_id: &'a str,
    /// The ordering unit: a tenant's rows are delivered in the order written.
    pub tenant_id: &'a str,
    /// What is delivered.
    pub payload: &'a [u8],
    /// A (sealed) value the receiver needs but the payload must not keep;
    /// wiped once the row is delivered or dead.
    pub secret: Option<&'a str>,
    /// The W3C trace context of the call that wrote it.
    pub traceparent: Option<&'a str>,
    /// When it was written (by the service's clock; the row is due at
    /// once whatever the relay's clock says).
    pub created_at: DateTime<Utc>,
}

impl Outbox {
    /// The outbox kept in `table`: a fixed name from the service's code
    /// (ASCII letters, digits and `_`), never input.
    pub const fn new(table: &'static str) -> Self {
        Self { table }
    }

    /// The table name.
    pub const fn table(&self) -> &'static str {
        self.table
    }

    /// Writes `m` in the caller's transaction (or connection).
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        conn: &C,
        m: NewMessage<'_>,
    ) -> Result<(), DbErr> {
        self.insert(conn, &[m], "").await.map(|_| ())
    }

    /// How many rows wait (neither delivered nor dead).
    pub async fn pending<C: ConnectionTrait>(&self, conn: &C) -> Result<u64, DbErr> {
        rows::pending(conn, self).await
    }

    /// The dead letters, oldest first.
    pub async fn dead_letters<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<Vec<DeadLetter>, DbErr> {
        rows::dead_letters(conn, self).await
    }

    /// Writes each of `rows` whose `event_id` is not there yet (nor earlier
    /// in `rows`), in as few statements as the databases' parameter limits
    /// allow; returns how many it wrote. For a caller that commits many
    /// independent rows at once (a group commit).
    pub async fn enqueue_many_once<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: &[NewMessage<'_>],
    ) -> Result<u64, DbErr> {
        let mut written = 0;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            written += self
                .insert(conn, chunk, " ON CONFLICT (event_id) DO NOTHING")
                .await?;
        }
        Ok(written)
    }

    async fn insert<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: &[NewMessage<'_>],
        tail: &str,
    ) -> Result<u64, DbErr> {
        let mut sql = format!(
            "INSERT INTO {} (event_id, tenant_id, payload, secret, traceparent, created_at_us, \
             attempts, next_attempt_at_us, last_error) VALUES ",
            self.table
        );
        let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 6);
        for (i, m) in rows.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, 0, 0, '')");
            values.extend([
                m.event_id.into(),
                m.tenant_id.into(),
                m.payload.to_vec().into(),
                m.secret.map(str::to_string).into(),
                m.traceparent.map(str::to_string).into(),
                to_stored(m.created_at).into(),
            ]);
        }
        sql.push_str(tail);
        Ok(conn
            .execute_raw(stmt(conn.get_database_backend(), &sql, values))
            .await?
            .rows_affected())
    }
}

/// Rows per multi-row insert: 6 parameters each stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters per statement.
const ROWS_PER_STATEMENT: usize = 1_000;

/// A statement written with `?` placeholders, numbered for PostgreSQL.
pub(crate) fn stmt(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}
