//! Signing keys: one current key signs; retired keys stay published until the
//! tokens they signed have expired.

use super::{Store, insert, save, signing_key};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder};

impl Store {
    /// The key that signs now.
    pub async fn current_signing_key(&self) -> Result<Option<signing_key::Model>, DbErr> {
        signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAt.is_null())
            .order_by_desc(signing_key::Column::CreatedAt)
            .one(&self.db)
            .await
    }

    /// A key by id, retired or not.
    pub async fn signing_key(&self, kid: &str) -> Result<Option<signing_key::Model>, DbErr> {
        signing_key::Entity::find_by_id(kid.to_string())
            .one(&self.db)
            .await
    }

    /// Keys still published at `now`.
    pub async fn published_keys(&self, now: i64) -> Result<Vec<signing_key::Model>, DbErr> {
        signing_key::Entity::find()
            .filter(
                Condition::any()
                    .add(signing_key::Column::PublishUntil.is_null())
                    .add(signing_key::Column::PublishUntil.gt(now)),
            )
            .order_by_asc(signing_key::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    /// Retires the current key(s) and makes `new` the signing key.
    pub async fn rotate_signing_key(
        &self,
        new: signing_key::Model,
        now: i64,
        publish_grace_secs: i64,
    ) -> Result<(), DbErr> {
        // Reads then writes: take SQLite's write lock first.
        let txn = self.begin_write().await?;
        let current = signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAt.is_null())
            .all(&txn)
            .await?;
        for mut k in current {
            k.retired_at = Some(now);
            k.publish_until = Some(now + publish_grace_secs);
            save(&txn, k).await?;
        }
        insert(&txn, new).await?;
        txn.commit().await
    }
}
