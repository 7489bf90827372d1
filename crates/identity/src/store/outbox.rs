//! The transactional outbox: events written in the same transaction as the
//! change that caused them, read in order by the deliverer and marked
//! delivered only after audit accepted them, or set aside (a dead letter)
//! when audit refuses one as invalid. An event's secret (an invitation's
//! acceptance token, which must reach audit's e-mail) is kept out of the
//! payload in its own column and wiped once the event is delivered or set aside.

use super::entities::outbox;
use super::sealed::OUTBOX_SECRET;
use keyholder_kit::kek::KekRing;
use keyholder_proto::audit::v1::Event;
use prost::Message;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Writes events (in the caller's transaction), stamped with their own time.
pub async fn push<C: ConnectionTrait>(
    conn: &C,
    kek: &KekRing,
    events: &[Event],
) -> Result<(), DbErr> {
    for event in events {
        let now = event.occur_time.map_or(0, |t| t.seconds);
        let mut payload = event.clone();
        let secret = std::mem::take(&mut payload.invitation_token);
        let secret = if secret.is_empty() {
            None
        } else {
            Some(
                kek.seal_str(OUTBOX_SECRET, &event.event_id, &secret)
                    .map_err(|e| DbErr::Custom(e.to_string()))?,
            )
        };
        outbox::Entity::insert(outbox::ActiveModel {
            seq: NotSet,
            event_id: Set(event.event_id.clone()),
            tenant_id: Set(event.tenant_id.clone()),
            payload: Set(payload.encode_to_vec()),
            secret: Set(secret),
            created_at: Set(now),
            delivered_at: Set(None),
            attempts: Set(0),
            rejected_at: Set(None),
            last_error: Set(String::new()),
            traceparent: Set(keyholder_kit::telemetry::current_traceparent()),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// The oldest undelivered rows not set aside. With `lock` (PostgreSQL, inside a
/// transaction) rows another replica is sending are skipped.
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

/// Marks rows delivered, wiping their secrets: audit has them now.
pub async fn mark_delivered<C: ConnectionTrait>(
    conn: &C,
    seqs: &[i64],
    now: i64,
) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::DeliveredAt, Expr::value(now))
        .col_expr(outbox::Column::Secret, Expr::value(Option::<String>::None))
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
/// Its secret is wiped: it will never be sent.
pub async fn mark_rejected<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    error: &str,
    now: i64,
) -> Result<(), DbErr> {
    let error: String = error.chars().take(2000).collect();
    outbox::Entity::update_many()
        .col_expr(outbox::Column::RejectedAt, Expr::value(now))
        .col_expr(outbox::Column::LastError, Expr::value(error))
        .col_expr(outbox::Column::Secret, Expr::value(Option::<String>::None))
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

/// How many events wait for delivery (not counting those set aside).
pub async fn undelivered_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::DeliveredAt.is_null())
        .filter(outbox::Column::RejectedAt.is_null())
        .count(conn)
        .await
}

/// The ids of events set aside, with the reason, oldest first.
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

/// Decodes a stored event, its secret opened and put back for the journey
/// to audit.
pub fn decode(kek: &KekRing, row: &outbox::Model) -> Option<Event> {
    let mut e = Event::decode(row.payload.as_slice()).ok()?;
    if let Some(secret) = &row.secret {
        e.invitation_token = kek.open_str(OUTBOX_SECRET, &row.event_id, secret).ok()?;
    }
    Some(e)
}
