//! The table every service keeps its retry-safe calls in, and the
//! migration that moves a service onto it.

use sea_orm::DbErr;
use sea_orm::sea_query::{Alias, ColumnDef, Index, Table};
use sea_orm::sea_query::{IndexCreateStatement, TableCreateStatement};

/// The table's shape, for a service's migration.
pub fn create_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(table))
        .if_not_exists()
        .col(ColumnDef::new(Alias::new("caller")).string().not_null())
        .col(ColumnDef::new(Alias::new("rpc")).string().not_null())
        .col(ColumnDef::new(Alias::new("request_id")).string().not_null())
        .col(ColumnDef::new(Alias::new("response")).binary().null())
        .col(
            ColumnDef::new(Alias::new("claimed_until_us"))
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("created_at_us"))
                .big_integer()
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(Alias::new("caller"))
                .col(Alias::new("rpc"))
                .col(Alias::new("request_id")),
        )
        .to_owned()
}

/// The type of a pre-ledger table's stored answers (identity kept base64
/// text, broker bytes), for re-creating it on the way down.
#[derive(Debug, Clone, Copy)]
pub enum OldAnswers {
    /// Base64 text.
    Text,
    /// Bytes.
    Bytes,
}

/// Moves a service onto the ledger: creates `table` and drops the service's
/// old idempotency table `old`. Old answers are not carried over: they only
/// serve retries, which each change's own preconditions still answer.
pub async fn migrate_up(
    manager: &sea_orm_migration::SchemaManager<'_>,
    table: &str,
    old: &str,
) -> Result<(), DbErr> {
    manager.create_table(create_table(table)).await?;
    manager.create_index(create_index(table)).await?;
    manager
        .drop_table(Table::drop().table(Alias::new(old)).if_exists().to_owned())
        .await
}

/// The way back: drops `table` and re-creates the old table `old`, empty,
/// so the release before finds it.
pub async fn migrate_down(
    manager: &sea_orm_migration::SchemaManager<'_>,
    table: &str,
    old: &str,
    answers: OldAnswers,
) -> Result<(), DbErr> {
    manager
        .drop_table(
            Table::drop()
                .table(Alias::new(table))
                .if_exists()
                .to_owned(),
        )
        .await?;
    let mut response = ColumnDef::new(Alias::new("response"));
    match answers {
        OldAnswers::Text => response.text(),
        OldAnswers::Bytes => response.binary(),
    };
    manager
        .create_table(
            Table::create()
                .table(Alias::new(old))
                .if_not_exists()
                .col(ColumnDef::new(Alias::new("caller")).text().not_null())
                .col(ColumnDef::new(Alias::new("rpc")).text().not_null())
                .col(ColumnDef::new(Alias::new("request_id")).text().not_null())
                .col(response.not_null())
                .col(
                    ColumnDef::new(Alias::new("created_at"))
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Alias::new("caller"))
                        .col(Alias::new("rpc"))
                        .col(Alias::new("request_id")),
                )
                .to_owned(),
        )
        .await
}

/// The index pruning reads by.
pub fn create_index(table: &str) -> IndexCreateStatement {
    Index::create()
        .if_not_exists()
        .name(format!("{table}_created"))
        .table(Alias::new(table))
        .col(Alias::new("created_at_us"))
        .to_owned()
}
