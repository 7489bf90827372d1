//! Refresh-token families: one per sign-in; each refresh spends one token and
//! issues the next; a spent token presented again revokes the family.

use super::{Store, insert, refresh_family, refresh_token};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

impl Store {
    /// Starts a family with its first token.
    pub async fn start_family(
        &self,
        family: refresh_family::Model,
        first: refresh_token::Model,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        insert(&txn, family).await?;
        insert(&txn, first).await?;
        txn.commit().await
    }

    /// A refresh token by id.
    pub async fn refresh_token(&self, jti: &str) -> Result<Option<refresh_token::Model>, DbErr> {
        refresh_token::Entity::find_by_id(jti.to_string())
            .one(&self.db)
            .await
    }

    /// A family by id.
    pub async fn family(&self, id: &str) -> Result<Option<refresh_family::Model>, DbErr> {
        refresh_family::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
    }

    /// Spends `old` and records `next`, atomically. False when `old` was
    /// already spent (a concurrent refresh or a replay).
    pub async fn spend_refresh_token(
        &self,
        old: &str,
        next: refresh_token::Model,
        now: i64,
    ) -> Result<bool, DbErr> {
        let txn = self.db.begin().await?;
        let res = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::SpentAt, Expr::value(now))
            .filter(refresh_token::Column::Jti.eq(old))
            .filter(refresh_token::Column::SpentAt.is_null())
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        insert(&txn, next).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Revokes one family.
    pub async fn revoke_family(&self, id: &str, now: i64) -> Result<(), DbErr> {
        refresh_family::Entity::update_many()
            .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
            .filter(refresh_family::Column::FamilyId.eq(id))
            .filter(refresh_family::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
