//! The transactional outbox: events written beside the change that caused
//! them, read in order by the deliverer and marked delivered only after audit
//! accepted them.

use super::entities::outbox;
use keyholder_proto::audit::v1::Event;
use prost::Message;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Writes an event (in the caller's transaction), and queues it for the
/// webhook subscriptions that want it.
pub async fn push<C: ConnectionTrait>(conn: &C, event: &Event, now_ms: i64) -> Result<(), DbErr> {
    outbox::Entity::insert(row(event, now_ms))
        .exec_without_returning(conn)
        .await?;
    super::webhooks::fan_out(conn, event, now_ms).await
}

/// Writes an event unless one with its id is already there (a retried
/// report); true when this call wrote it. Atomic: of concurrent writers of
/// one id exactly one writes.
pub async fn push_once<C: ConnectionTrait>(
    conn: &C,
    event: &Event,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let n = outbox::Entity::insert(row(event, now_ms))
        .on_conflict(
            OnConflict::column(outbox::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(n == 1)
}

fn row(event: &Event, now_ms: i64) -> outbox::ActiveModel {
    outbox::ActiveModel {
        seq: NotSet,
        event_id: Set(event.event_id.clone()),
        tenant_id: Set(event.tenant_id.clone()),
        payload: Set(event.encode_to_vec()),
        created_at: Set(now_ms),
        delivered_at: Set(None),
        attempts: Set(0),
        rejected_at: Set(None),
        last_error: Set(String::new()),
        traceparent: Set(keyholder_kit::telemetry::current_traceparent()),
    }
}

/// The oldest undelivered rows. With `lock` (PostgreSQL, inside a
/// transaction) rows another broker is sending are skipped.
pub async fn pending<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
    lock: bool,
) -> Result<Vec<outbox::Model>, DbErr> {
    let mut q = outbox::Entity::find()
        .filter(outbox::Column::DeliveredAt.is_null())
        .filter(outbox::Column::RejectedAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .limit(limit);
    if lock {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    q.all(conn).await
}

/// Marks rows delivered.
pub async fn mark_delivered<C: ConnectionTrait>(
    conn: &C,
    seqs: &[i64],
    now_ms: i64,
) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::DeliveredAt, Expr::value(now_ms))
        .filter(outbox::Column::Seq.is_in(seqs.iter().copied()))
        .filter(outbox::Column::DeliveredAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Counts a failed attempt.
pub async fn mark_failed<C: ConnectionTrait>(conn: &C, seqs: &[i64]) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .filter(outbox::Column::Seq.is_in(seqs.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Sets an event aside for good: audit refused it as invalid (or it does not
/// decode), so resending cannot help and would hold up everything behind it.
pub async fn mark_rejected<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    error: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    let error: String = error.chars().take(2000).collect();
    outbox::Entity::update_many()
        .col_expr(outbox::Column::RejectedAt, Expr::value(now_ms))
        .col_expr(outbox::Column::LastError, Expr::value(error))
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .filter(outbox::Column::Seq.eq(seq))
        .filter(outbox::Column::DeliveredAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// How many events wait for delivery (not counting rejected ones).
pub async fn undelivered_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    outbox::Entity::find()
        .filter(outbox::Column::DeliveredAt.is_null())
        .filter(outbox::Column::RejectedAt.is_null())
        .count(conn)
        .await
}

/// The ids of events audit refused, with audit's reason, oldest first.
pub async fn rejected<C: ConnectionTrait>(conn: &C) -> Result<Vec<(String, String)>, DbErr> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::RejectedAt.is_not_null())
        .order_by_asc(outbox::Column::Seq)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.event_id, r.last_error))
        .collect())
}

/// Decodes a stored event.
pub fn decode(row: &outbox::Model) -> Option<Event> {
    Event::decode(row.payload.as_slice()).ok()
}
