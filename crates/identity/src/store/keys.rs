//! Signing keys: one current key signs; retired keys stay published until the
//! tokens they signed have expired.

use super::{Store, insert, save, signing_key};
use crate::domain::tokens::PublishedKey;
use crate::error::Error;
use chrono::{DateTime, Duration, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// A key as published (never its private half).
pub fn published(k: &signing_key::Model) -> Result<PublishedKey, Error> {
    Ok(PublishedKey {
        kid: k.kid.clone(),
        public_key: k.public_key.clone(),
        created_at: from_stored(k.created_at_us)?,
        publish_until: k.publish_until_us.map(from_stored).transpose()?,
    })
}

/// Still published at `now`?
pub fn is_published(k: &signing_key::Model, now: DateTime<Utc>) -> bool {
    k.publish_until_us.is_none_or(|t| t > to_stored(now))
}

impl Store {
    /// The key that signs now.
    pub async fn current_signing_key(&self) -> Result<Option<signing_key::Model>, DbErr> {
        signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAtUs.is_null())
            .order_by_desc(signing_key::Column::CreatedAtUs)
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
    pub async fn published_keys(&self, now: DateTime<Utc>) -> Result<Vec<PublishedKey>, Error> {
        signing_key::Entity::find()
            .filter(
                Condition::any()
                    .add(signing_key::Column::PublishUntilUs.is_null())
                    .add(signing_key::Column::PublishUntilUs.gt(to_stored(now))),
            )
            .order_by_asc(signing_key::Column::CreatedAtUs)
            .all(&self.db)
            .await?
            .iter()
            .map(published)
            .collect()
    }

    /// Retires the current key(s) at `now`, published for `publish_grace`
    /// more, and makes `new` the signing key.
    pub async fn rotate_signing_key(
        &self,
        new: signing_key::Model,
        now: DateTime<Utc>,
        publish_grace: Duration,
    ) -> Result<(), DbErr> {
        // Reads then writes: take SQLite's write lock first.
        let txn = self.begin_write().await?;
        let current = signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAtUs.is_null())
            .all(&txn)
            .await?;
        for mut k in current {
            k.retired_at_us = Some(to_stored(now));
            k.publish_until_us = Some(to_stored(now + publish_grace));
            save(&txn, k).await?;
        }
        insert(&txn, new).await?;
        txn.commit().await
    }
}
