//! Retry-safe calls move to the kit's one idempotency table shape (claims
//! with a lease, answers as bytes, `_us` instants; ADR 0018). Answers kept
//! by the old table are not carried over: they only serve retries, and a
//! retry across an upgrade is refused or re-checked by the change's own
//! preconditions.

use keyholder_kit::idempotency;
use sea_orm_migration::prelude::*;

pub struct Migration;

/// The table; the store opens its ledger on it.
pub const TABLE: &str = "broker_request_ids";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_request_ids"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(idempotency::create_table(TABLE))
            .await?;
        manager
            .create_index(idempotency::create_index(TABLE))
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table("broker_idempotency")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).if_exists().to_owned())
            .await?;
        // The old table, empty, so the release before this one finds it.
        manager
            .create_table(
                Table::create()
                    .table("broker_idempotency")
                    .if_not_exists()
                    .col(ColumnDef::new("caller").text().not_null())
                    .col(ColumnDef::new("rpc").text().not_null())
                    .col(ColumnDef::new("request_id").text().not_null())
                    .col(ColumnDef::new("response").binary().not_null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .primary_key(Index::create().col("caller").col("rpc").col("request_id"))
                    .to_owned(),
            )
            .await
    }
}
