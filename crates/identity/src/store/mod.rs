//! Every database call of identity. Time comes in as a parameter.

mod accounts;
pub mod entities;
mod keys;
mod org;
mod partners;
mod tenants;
mod tokens;
mod users;

pub use entities::*;
pub use org::{OrgSnapshot, subject_from as org_subject};

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel,
};

/// The identity database.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection (for transactions spanning several calls).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A stored idempotent response, if this caller already made this request.
    pub async fn idempotent_response(
        &self,
        caller: &str,
        rpc: &str,
        request_id: &str,
    ) -> Result<Option<String>, DbErr> {
        Ok(idempotency::Entity::find_by_id((
            caller.to_string(),
            rpc.to_string(),
            request_id.to_string(),
        ))
        .one(&self.db)
        .await?
        .map(|m| m.response))
    }

    /// Remembers a response so a retry gets it again.
    pub async fn remember_response(
        &self,
        caller: &str,
        rpc: &str,
        request_id: &str,
        response: String,
        now: i64,
    ) -> Result<(), DbErr> {
        insert(
            &self.db,
            idempotency::Model {
                caller: caller.into(),
                rpc: rpc.into(),
                request_id: request_id.into(),
                response,
                created_at: now,
            },
        )
        .await
    }
}

/// Inserts a whole model.
pub(crate) async fn insert<C, M, A>(db: &C, model: M) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    M: IntoActiveModel<A>,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
{
    let am = model.into_active_model().reset_all();
    <A::Entity as EntityTrait>::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes every column of a model.
pub(crate) async fn save<C, M, A>(db: &C, model: M) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    M: IntoActiveModel<A>,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    model.into_active_model().reset_all().update(db).await?;
    Ok(())
}
