//! The relay's SQL: claim a batch under a lease, settle each row, prune.
//! Plain statements on the service's table name, so every service's outbox
//! is read and written by this one file.

use super::{Outbox, stmt};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, TransactionTrait, Value,
};

/// A claimed row, as the sink sees it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Message {
    /// Order of writing.
    pub seq: i64,
    /// The receiver's idempotency key.
    pub event_id: String,
    /// The ordering unit.
    pub tenant_id: String,
    /// What is delivered.
    pub payload: Vec<u8>,
    /// A (sealed) value kept out of the payload, if any.
    pub secret: Option<String>,
    /// The W3C trace context of the call that wrote it.
    pub traceparent: Option<String>,
    /// When it was written (µs).
    pub created_at_us: i64,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// A row given up for good, kept for an operator.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct DeadLetter {
    /// Its idempotency key.
    pub event_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The last reason it failed (the receiver's refusal, or the last error).
    pub last_error: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it was given up (µs).
    pub dead_at_us: i64,
}

const UNSETTLED: &str = "delivered_at_us IS NULL AND dead_at_us IS NULL";

fn seq_list(seqs: &[i64]) -> String {
    seqs.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The claim's selection: due rows in order, none after a row of its tenant
/// that is held back. A tenant is held back after its first unsettled row
/// that backs off or is leased; those rows are few and found by range (the
/// blocker indexes), once per claim rather than once per candidate.
/// Parameters: due, now, due, now, limit.
pub(crate) fn claim_sql(t: &str) -> String {
    format!(
        "WITH blocked AS MATERIALIZED ( \
         SELECT tenant_id, MIN(seq) AS first FROM {t} \
         WHERE delivered_at_us IS NULL AND dead_at_us IS NULL AND next_attempt_at_us > ? \
         GROUP BY tenant_id \
         UNION ALL \
         SELECT tenant_id, MIN(seq) AS first FROM {t} \
         WHERE delivered_at_us IS NULL AND dead_at_us IS NULL AND leased_until_us > ? \
         GROUP BY tenant_id) \
         SELECT o.seq FROM {t} o WHERE o.delivered_at_us IS NULL AND o.dead_at_us IS NULL \
         AND o.next_attempt_at_us <= ? \
         AND (o.leased_until_us IS NULL OR o.leased_until_us <= ?) \
         AND NOT EXISTS (SELECT 1 FROM blocked b WHERE b.tenant_id = o.tenant_id AND b.first < o.seq) \
         ORDER BY o.seq LIMIT ?"
    )
}

/// Leases up to `limit` rows that are due, unleased (or whose lease
/// lapsed) and not behind a row of their tenant that is leased or waiting
/// out a backoff, oldest first. Claims are serialised so two relays never
/// take one row. Rows count as due when their next attempt is at or before
/// `due_us` (`now_us` normally; later to retry ahead of the backoff).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn claim(
    db: &DatabaseConnection,
    outbox: &Outbox,
    owner: &str,
    now_us: i64,
    due_us: i64,
    lease_until_us: i64,
    limit: u64,
) -> Result<Vec<Message>, DbErr> {
    let t = outbox.table();
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DbBackend::Postgres {
        txn.execute_raw(stmt(
            backend,
            "SELECT pg_advisory_xact_lock(hashtext('keyholder.outbox.' || ?))",
            vec![t.into()],
        ))
        .await?;
    } else {
        // Starting with a write takes SQLite's write lock for the whole claim.
        txn.execute_unprepared(&format!("UPDATE {t} SET seq = seq WHERE 1 = 0"))
            .await?;
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let due = claim_sql(t);
    let seqs: Vec<i64> = txn
        .query_all_raw(stmt(
            backend,
            &due,
            vec![
                due_us.into(),
                now_us.into(),
                due_us.into(),
                now_us.into(),
                limit.into(),
            ],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    if seqs.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let list = seq_list(&seqs);
    txn.execute_raw(stmt(
        backend,
        &format!("UPDATE {t} SET lease_owner = ?, leased_until_us = ? WHERE seq IN ({list})"),
        vec![owner.into(), lease_until_us.into()],
    ))
    .await?;
    let rows = Message::find_by_statement(stmt(
        backend,
        &format!(
            "SELECT seq, event_id, tenant_id, payload, secret, traceparent, created_at_us, attempts \
             FROM {t} WHERE seq IN ({list}) ORDER BY seq"
        ),
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// Marks rows delivered, wiping their secrets (the receiver has them now).
pub(crate) async fn delivered<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    seqs: &[i64],
    now_us: i64,
) -> Result<(), DbErr> {
    if seqs.is_empty() {
        return Ok(());
    }
    let t = outbox.table();
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        &format!(
            "UPDATE {t} SET delivered_at_us = ?, secret = NULL, leased_until_us = NULL, \
             lease_owner = NULL, attempts = attempts + 1 WHERE seq IN ({}) AND {UNSETTLED}",
            seq_list(seqs)
        ),
        vec![now_us.into()],
    ))
    .await?;
    Ok(())
}

/// Counts a failed attempt by `owner` and schedules the next at `next_us`.
pub(crate) async fn retry<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    seq: i64,
    owner: &str,
    next_us: i64,
    error: &str,
) -> Result<(), DbErr> {
    failed_attempt(
        conn,
        outbox,
        "next_attempt_at_us = ?",
        next_us,
        seq,
        owner,
        error,
    )
    .await
}

/// Gives a row up for good (a dead letter), wiping its secret: it will
/// never be sent.
pub(crate) async fn dead<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    seq: i64,
    owner: &str,
    now_us: i64,
    error: &str,
) -> Result<(), DbErr> {
    failed_attempt(
        conn,
        outbox,
        "dead_at_us = ?, secret = NULL",
        now_us,
        seq,
        owner,
        error,
    )
    .await
}

/// Counts a failed attempt on a row this relay holds and releases its
/// lease; `set` says what else changes (`at` is its one parameter).
async fn failed_attempt<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    set: &str,
    at: i64,
    seq: i64,
    owner: &str,
    error: &str,
) -> Result<(), DbErr> {
    let t = outbox.table();
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        &format!(
            "UPDATE {t} SET attempts = attempts + 1, {set}, last_error = ?, \
             leased_until_us = NULL, lease_owner = NULL \
             WHERE seq = ? AND lease_owner = ? AND {UNSETTLED}"
        ),
        vec![at.into(), clip(error).into(), seq.into(), owner.into()],
    ))
    .await?;
    Ok(())
}

/// Deletes up to `limit` rows delivered before `before_us`; how many went.
/// Dead letters stay for an operator.
pub(crate) async fn prune<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    before_us: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let t = outbox.table();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            &prune_sql(t),
            vec![before_us.into(), limit.into()],
        ))
        .await?
        .rows_affected())
}

/// The prune's statement (its own function so a test can read its plan).
pub(crate) fn prune_sql(t: &str) -> String {
    format!(
        "DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} \
         WHERE delivered_at_us IS NOT NULL AND delivered_at_us < ? ORDER BY seq LIMIT ?)"
    )
}

/// How many rows wait (neither delivered nor dead).
pub(crate) async fn pending<C: ConnectionTrait>(conn: &C, outbox: &Outbox) -> Result<u64, DbErr> {
    let t = outbox.table();
    let row = conn
        .query_one_raw(stmt(
            conn.get_database_backend(),
            &format!("SELECT COUNT(*) FROM {t} WHERE {UNSETTLED}"),
            Vec::<Value>::new(),
        ))
        .await?;
    let n = match row {
        Some(r) => r.try_get_by_index::<i64>(0)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The dead letters, oldest first.
pub(crate) async fn dead_letters<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<Vec<DeadLetter>, DbErr> {
    let t = outbox.table();
    DeadLetter::find_by_statement(stmt(
        conn.get_database_backend(),
        &format!(
            "SELECT event_id, tenant_id, last_error, attempts, dead_at_us FROM {t} \
             WHERE dead_at_us IS NOT NULL ORDER BY seq"
        ),
        vec![],
    ))
    .all(conn)
    .await
}

/// Reasons are kept short: a receiver's message names a field and a limit,
/// never a value, but a transport error may be long.
fn clip(error: &str) -> String {
    error.chars().take(2000).collect()
}
