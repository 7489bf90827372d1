//! Refresh-token families: one per sign-in; each refresh spends one token and
//! issues the next; a spent token presented again revokes the family.

use super::{Store, insert, refresh_family, refresh_token};
use crate::domain::tokens::{RefreshFamily, RefreshToken};
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

fn family_model(f: &RefreshFamily) -> refresh_family::Model {
    refresh_family::Model {
        family_id: f.family_id.clone(),
        user_id: f.user_id.clone(),
        amr: f.amr.join(" "),
        created_at_us: to_stored(f.created_at),
        revoked_at_us: f.revoked_at.map(to_stored),
    }
}

fn token_model(t: &RefreshToken) -> refresh_token::Model {
    refresh_token::Model {
        jti: t.jti.clone(),
        family_id: t.family_id.clone(),
        expires_at_us: to_stored(t.expires_at),
        spent_at_us: t.spent_at.map(to_stored),
    }
}

impl Store {
    /// Starts a family with its first token.
    pub async fn start_family(
        &self,
        family: &RefreshFamily,
        first: &RefreshToken,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        insert(&txn, family_model(family)).await?;
        insert(&txn, token_model(first)).await?;
        txn.commit().await
    }

    /// A refresh token by id.
    pub async fn refresh_token(&self, jti: &str) -> Result<Option<RefreshToken>, Error> {
        let Some(m) = refresh_token::Entity::find_by_id(jti.to_string())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(RefreshToken {
            expires_at: from_stored(m.expires_at_us)?,
            spent_at: m.spent_at_us.map(from_stored).transpose()?,
            jti: m.jti,
            family_id: m.family_id,
        }))
    }

    /// A family by id.
    pub async fn family(&self, id: &str) -> Result<Option<RefreshFamily>, Error> {
        let Some(m) = refresh_family::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(RefreshFamily {
            created_at: from_stored(m.created_at_us)?,
            revoked_at: m.revoked_at_us.map(from_stored).transpose()?,
            amr: m.amr.split_whitespace().map(str::to_string).collect(),
            family_id: m.family_id,
            user_id: m.user_id,
        }))
    }

    /// Spends `old` at `now` and records `next`, atomically. False when
    /// `old` was already spent (a concurrent refresh or a replay).
    pub async fn spend_refresh_token(
        &self,
        old: &str,
        next: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let txn = self.db.begin().await?;
        let res = refresh_token::Entity::update_many()
            .col_expr(
                refresh_token::Column::SpentAtUs,
                Expr::value(to_stored(now)),
            )
            .filter(refresh_token::Column::Jti.eq(old))
            .filter(refresh_token::Column::SpentAtUs.is_null())
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        insert(&txn, token_model(next)).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Revokes one family at `now`.
    pub async fn revoke_family(&self, id: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
        refresh_family::Entity::update_many()
            .col_expr(
                refresh_family::Column::RevokedAtUs,
                Expr::value(to_stored(now)),
            )
            .filter(refresh_family::Column::FamilyId.eq(id))
            .filter(refresh_family::Column::RevokedAtUs.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
