//! Retry-safe calls move to the kit's one idempotency table shape (claims
//! with a lease, answers as bytes, `_us` instants; ADR 0018). Answers kept
//! by the old table are not carried over: they only serve retries, and a
//! retry across an upgrade is refused or re-checked by the change's own
//! preconditions.

use keyholder_kit::idempotency;
use sea_orm_migration::prelude::*;

pub struct Migration;

/// The table; the store opens its ledger on it.
pub const TABLE: &str = "identity_request_ids";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_request_ids"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        idempotency::migrate_up(manager, TABLE, "identity_idempotency").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        idempotency::migrate_down(
            manager,
            TABLE,
            "identity_idempotency",
            idempotency::OldAnswers::Text,
        )
        .await
    }
}
