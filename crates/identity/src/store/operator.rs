//! The operator's account outside the API: a lost operator password is
//! replaced straight in identity's database (`keyholder admin
//! reset-operator`), since nobody can sign in to change it.

use super::standing::{Reason, record_user};
use super::{refresh_family, user};
use chrono::{DateTime, Utc};
use keyholder_kit::auth::PrincipalKind;
use keyholder_kit::instant::to_stored;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait};

/// Gives the operator the password whose hash is `password_hash`, clears
/// the account's sign-in throttle, and ends every session it had: refresh families
/// are revoked and a standing change makes every access token issued before
/// die at every service. Returns the operator's id and e-mail, or `None`
/// when identity has no operator yet (its first start creates one).
pub async fn reset_operator(
    db: &DatabaseConnection,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<Option<(String, String)>, DbErr> {
    let txn = db.begin().await?;
    let Some(operator) = user::Entity::find()
        .filter(user::Column::Kind.eq(PrincipalKind::Operator.as_str()))
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .filter(user::Column::UserId.eq(operator.user_id.clone()))
        .exec(&txn)
        .await?;
    refresh_family::Entity::update_many()
        .col_expr(
            refresh_family::Column::RevokedAtUs,
            Expr::value(to_stored(now)),
        )
        .filter(refresh_family::Column::UserId.eq(operator.user_id.clone()))
        .filter(refresh_family::Column::RevokedAtUs.is_null())
        .exec(&txn)
        .await?;
    let key = crate::domain::throttle::account_key("", &operator.email);
    super::throttle::sign_in_throttle::Entity::delete_by_id(key)
        .exec(&txn)
        .await?;
    record_user(
        &txn,
        &operator.user_id,
        Reason::SignedOutEverywhere,
        true,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Some((operator.user_id, operator.email)))
}
