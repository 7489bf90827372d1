//! Stored results of mutations by (caller, rpc, request_id), so a retried call
//! returns the first answer instead of acting twice.

use super::entities::idempotency;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

/// The stored response, if any.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    caller: &str,
    rpc: &str,
    request_id: &str,
) -> Result<Option<Vec<u8>>, DbErr> {
    Ok(idempotency::Entity::find_by_id((
        caller.to_string(),
        rpc.to_string(),
        request_id.to_string(),
    ))
    .one(conn)
    .await?
    .map(|m| m.response))
}

/// Stores a response; the first one stored wins.
pub async fn put<C: ConnectionTrait>(
    conn: &C,
    caller: &str,
    rpc: &str,
    request_id: &str,
    response: Vec<u8>,
    now_ms: i64,
) -> Result<(), DbErr> {
    idempotency::Entity::insert(idempotency::ActiveModel {
        caller: Set(caller.to_string()),
        rpc: Set(rpc.to_string()),
        request_id: Set(request_id.to_string()),
        response: Set(response),
        created_at: Set(now_ms),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency::Column::Caller,
            idempotency::Column::Rpc,
            idempotency::Column::RequestId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
