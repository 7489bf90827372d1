//! The revocation log: one row per ended grant or session, read by every
//! broker's poller, plus a PostgreSQL NOTIFY in the same transaction so other
//! brokers hear of it at once.

use super::entities::revocations;
use sea_orm::sea_query::{Func, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

/// The LISTEN/NOTIFY channel.
pub const CHANNEL: &str = "keyholder_broker_revocations";

/// Records that a grant (session id empty) or a session ended.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    postgres: bool,
    grant_id: &str,
    session_id: &str,
    now_us: i64,
) -> Result<(), DbErr> {
    revocations::Entity::insert(revocations::ActiveModel {
        seq: NotSet,
        grant_id: Set(grant_id.to_string()),
        session_id: Set(session_id.to_string()),
        created_at_us: Set(now_us),
    })
    .exec_without_returning(conn)
    .await?;
    if postgres {
        let payload = if session_id.is_empty() {
            format!("g:{grant_id}")
        } else {
            format!("s:{session_id}")
        };
        // Delivered by PostgreSQL only when the transaction commits.
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Rows after `seq`, oldest first.
pub async fn since<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    limit: u64,
) -> Result<Vec<revocations::Model>, DbErr> {
    revocations::Entity::find()
        .filter(revocations::Column::Seq.gt(seq))
        .order_by_asc(revocations::Column::Seq)
        .limit(limit)
        .all(conn)
        .await
}

/// The newest sequence number (0 when empty).
pub async fn latest<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    let row = revocations::Entity::find()
        .select_only()
        .column_as(
            SimpleExpr::from(Func::max(sea_orm::sea_query::Expr::col(
                revocations::Column::Seq,
            ))),
            "m",
        )
        .into_tuple::<Option<i64>>()
        .one(conn)
        .await?;
    Ok(row.flatten().unwrap_or(0))
}
