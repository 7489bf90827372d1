//! The one outbox table shape (ADR 0017), created or rebuilt by a service's
//! migration under the service's own table name (ADR 0003). Plain SQL both
//! SQLite and PostgreSQL accept; instants are `_us` (ADR 0016).

use super::Outbox;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

/// Every column, in table order (what a rebuild copies into).
pub const COLUMNS: &str = "seq, event_id, tenant_id, payload, secret, traceparent, \
    created_at_us, attempts, next_attempt_at_us, leased_until_us, lease_owner, \
    delivered_at_us, dead_at_us, last_error";

/// Index name suffixes (`<table>_<suffix>`).
const INDEXES: [&str; 6] = [
    "event_id",
    "unsettled",
    "tenant",
    "delivered",
    "backoff",
    "leased",
];

/// The statements that create `outbox`'s table and indexes.
pub fn create_statements(outbox: &Outbox, backend: DbBackend) -> Vec<String> {
    let t = outbox.table();
    let (pk, blob) = match backend {
        DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
        _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
    };
    let mut statements = vec![
        format!(
            "CREATE TABLE {t} (
                seq {pk},
                event_id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                payload {blob} NOT NULL,
                secret TEXT NULL,
                traceparent TEXT NULL,
                created_at_us BIGINT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt_at_us BIGINT NOT NULL DEFAULT 0,
                leased_until_us BIGINT NULL,
                lease_owner TEXT NULL,
                delivered_at_us BIGINT NULL,
                dead_at_us BIGINT NULL,
                last_error TEXT NOT NULL DEFAULT '')"
        ),
        // The receiver's idempotency key, and `enqueue_many_once`'s conflict target.
        format!("CREATE UNIQUE INDEX {t}_event_id ON {t} (event_id)"),
        // What the relay scans (unsettled rows in order), and by its first
        // column what the prune reads (rows delivered before a time).
        format!("CREATE INDEX {t}_unsettled ON {t} (delivered_at_us, dead_at_us, seq)"),
    ];
    statements.extend(blocker_indexes(t));
    statements
}

/// The claim's "which tenants are held back" lookup: the unsettled rows
/// backing off or leased, found by range instead of by reading every
/// unsettled row. Before them the claim asked, for each candidate, whether
/// an earlier row of its tenant was held back, reading every earlier
/// unsettled row: quadratic in the claim's size (7 ms for 200 rows, 148 ms
/// for 1,000, with a backlog of 14,500 rows on SQLite). `IF NOT EXISTS`:
/// creating the table (a fresh database's m0006) makes them already,
/// before the later migration that adds them to older outboxes runs.
fn blocker_indexes(t: &str) -> [String; 2] {
    [
        format!(
            "CREATE INDEX IF NOT EXISTS {t}_backoff ON {t} (delivered_at_us, dead_at_us, next_attempt_at_us)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {t}_leased ON {t} (delivered_at_us, dead_at_us, leased_until_us)"
        ),
    ]
}

/// Adds [`blocker_indexes`] to an existing outbox (a migration's `up`).
pub async fn add_blocker_indexes<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<(), DbErr> {
    conn.execute_unprepared(&blocker_indexes(outbox.table()).join("; "))
        .await?;
    Ok(())
}

/// Drops them again (a migration's `down`).
pub async fn drop_blocker_indexes<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<(), DbErr> {
    drop_indexes(conn, outbox, &["backoff", "leased"]).await
}

/// Drops `<table>_<suffix>` for each of `suffixes`, in one call (so one
/// connection), those already gone included.
async fn drop_indexes<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    suffixes: &[&str],
) -> Result<(), DbErr> {
    let t = outbox.table();
    let sql: Vec<String> = suffixes
        .iter()
        .map(|s| format!("DROP INDEX IF EXISTS {t}_{s}"))
        .collect();
    conn.execute_unprepared(&sql.join("; ")).await?;
    Ok(())
}

/// The per-tenant index of unsettled rows. It served the claim's former
/// per-candidate check ("is an earlier unsettled row of this tenant
/// waiting"), where a `(tenant_id, seq)` index read every row delivered
/// since the last prune; the claim now finds held-back rows through
/// [`blocker_indexes`] and no longer reads it (a test pins that), and
/// [`drop_unread_indexes`] removes it.
fn tenant_index(t: &str) -> String {
    format!("CREATE INDEX {t}_tenant ON {t} (tenant_id, delivered_at_us, dead_at_us, seq)")
}

/// The index on `delivered_at_us` alone, once the prune's: the unsettled
/// index starts with the same column and serves the prune's range as well.
fn delivered_index(t: &str) -> String {
    format!("CREATE INDEX {t}_delivered ON {t} (delivered_at_us)")
}

/// Drops the two indexes no query reads any more ([`tenant_index`],
/// [`delivered_index`]; a migration's `up`). Every insert wrote both and
/// every delivery moved both: two of the table's eight b-trees.
pub async fn drop_unread_indexes<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<(), DbErr> {
    drop_indexes(conn, outbox, &["tenant", "delivered"]).await
}

/// Re-creates them (a migration's `down`).
pub async fn restore_unread_indexes<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<(), DbErr> {
    let t = outbox.table();
    conn.execute_unprepared(&format!("{}; {}", tenant_index(t), delivered_index(t)))
        .await?;
    Ok(())
}

/// Moves an existing outbox's per-tenant index onto [`tenant_index`]'s
/// shape (a migration's `up`).
pub async fn reindex_tenant_order<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<(), DbErr> {
    let t = outbox.table();
    replace_tenant_index(conn, t, &tenant_index(t)).await
}

/// Back to the `(tenant_id, seq)` index (a migration's `down`).
pub async fn unreindex_tenant_order<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
) -> Result<(), DbErr> {
    let t = outbox.table();
    let old = format!("CREATE INDEX {t}_tenant ON {t} (tenant_id, seq)");
    replace_tenant_index(conn, t, &old).await
}

async fn replace_tenant_index<C: ConnectionTrait>(
    conn: &C,
    t: &str,
    create: &str,
) -> Result<(), DbErr> {
    // One call, so one connection: on SQLite another pooled connection may
    // still see the dropped index in the schema it last read.
    conn.execute_unprepared(&format!("DROP INDEX IF EXISTS {t}_tenant; {create}"))
        .await?;
    Ok(())
}

/// Creates `outbox`'s table.
pub async fn create<C: ConnectionTrait>(conn: &C, outbox: &Outbox) -> Result<(), DbErr> {
    for sql in create_statements(outbox, conn.get_database_backend()) {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Moves an existing queue table of another shape onto this one, keeping
/// its rows: the old table is renamed `<table>_old`, the new one created,
/// `select` (a `SELECT` of [`COLUMNS`] in order `FROM <table>_old`) copied
/// in, and the old table dropped. The sequence goes on after the highest
/// copied `seq`, so receivers never see an id reused.
pub async fn rebuild<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    select: &str,
) -> Result<(), DbErr> {
    let t = outbox.table();
    conn.execute_unprepared(&format!("ALTER TABLE {t} RENAME TO {t}_old"))
        .await?;
    // Index names stay with the renamed table: free the new shape's names.
    for index in INDEXES {
        conn.execute_unprepared(&format!("DROP INDEX IF EXISTS {t}_{index}"))
            .await?;
    }
    create(conn, outbox).await?;
    conn.execute_unprepared(&format!("INSERT INTO {t} ({COLUMNS}) {select}"))
        .await?;
    conn.execute_unprepared(&format!("DROP TABLE {t}_old"))
        .await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'seq'), COALESCE((SELECT MAX(seq) FROM {t}), 0) + 1, false)"
        ))
        .await?;
    }
    Ok(())
}

/// The way back from [`rebuild`]: re-creates the table in its old shape as
/// `<table>_old` from `columns` (the column list of its `CREATE TABLE`, with
/// `{pk}` and `{blob}` standing for the backend's serial key and byte
/// types), copies the rows back with `copy_back` (an `INSERT INTO
/// <table>_old … SELECT … FROM <table>`), swaps the tables and re-creates
/// the old pending index.
pub async fn restore<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    columns: &str,
    copy_back: &str,
) -> Result<(), DbErr> {
    let t = outbox.table();
    let postgres = conn.get_database_backend() == DbBackend::Postgres;
    let (pk, blob) = if postgres {
        ("BIGSERIAL PRIMARY KEY", "BYTEA")
    } else {
        ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB")
    };
    let columns = columns.replace("{pk}", pk).replace("{blob}", blob);
    for sql in [
        format!("CREATE TABLE {t}_old ({columns})"),
        copy_back.to_string(),
        format!("DROP TABLE {t}"),
        format!("ALTER TABLE {t}_old RENAME TO {t}"),
        format!("CREATE INDEX {t}_pending ON {t} (delivered_at, seq)"),
    ] {
        conn.execute_unprepared(&sql).await?;
    }
    if postgres {
        conn.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'seq'), COALESCE((SELECT MAX(seq) FROM {t}), 0) + 1, false)"
        ))
        .await?;
    }
    Ok(())
}
