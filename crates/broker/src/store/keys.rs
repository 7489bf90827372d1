//! The broker's own Ed25519 keys for support-session tokens, shared by all
//! replicas through the database.

use super::entities::keys;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder};

/// All keys, oldest first.
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .order_by_asc(keys::Column::CreatedAt)
        .order_by_asc(keys::Column::Kid)
        .all(conn)
        .await
}

/// Inserts a key unless one with its id exists.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    kid: &str,
    private_key: Vec<u8>,
    now_ms: i64,
) -> Result<(), DbErr> {
    keys::Entity::insert(keys::ActiveModel {
        kid: Set(kid.to_string()),
        private_key: Set(private_key),
        created_at: Set(now_ms),
    })
    .on_conflict(
        OnConflict::column(keys::Column::Kid)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
