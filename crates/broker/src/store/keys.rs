//! The broker's own Ed25519 keys for support-session tokens, shared by all
//! replicas through the database, sealed with the key-encryption key.

use super::entities::keys;
use keyholder_kit::kek::KekRing;
use keyholder_kit::sealed::{ResealError, ResealReport, SealedColumn, reseal_all};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder};

/// Purpose bound into a session key's envelope (row: the key id).
pub const SESSION_KEY: &str = "broker.session_key";

/// Every sealed column of the broker's tables.
pub const COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "broker_keys",
        key: "kid",
        column: "private_key",
        purpose: SESSION_KEY,
        binary: true,
    },
    SealedColumn {
        table: "broker_helpdesk_connectors",
        key: "id",
        column: "secret",
        purpose: super::helpdesk::CONNECTOR_SECRET,
        binary: false,
    },
    SealedColumn {
        table: "broker_webhook_subscriptions",
        key: "id",
        column: "secret",
        purpose: super::webhooks::SUBSCRIPTION_SECRET,
        binary: false,
    },
];

/// Brings every broker secret in `conn` under `ring`'s current KEK
/// (start-up and `keyholder admin rotate-kek`).
pub async fn reseal<C: ConnectionTrait>(
    conn: &C,
    ring: &KekRing,
) -> Result<ResealReport, ResealError> {
    reseal_all(conn, ring, COLUMNS).await
}

/// All keys, oldest first.
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .order_by_asc(keys::Column::CreatedAtUs)
        .order_by_asc(keys::Column::Kid)
        .all(conn)
        .await
}

/// Inserts a key (its private half already sealed) unless one with its id exists.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    kid: &str,
    private_key: Vec<u8>,
    now_us: i64,
) -> Result<(), DbErr> {
    keys::Entity::insert(keys::ActiveModel {
        kid: Set(kid.to_string()),
        private_key: Set(private_key),
        created_at_us: Set(now_us),
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
