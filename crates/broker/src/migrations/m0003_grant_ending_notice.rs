//! The grant-ending notice is sent once per grant end: `ending_notice_for`
//! holds the end (`expire_at`, ms) it was sent for, so neither a restart nor a
//! second broker sends it again, and an extension (a new end) earns a new one.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_grant_ending_notice"
    }
}

const UP: &[&str] = &["ALTER TABLE broker_grants ADD COLUMN ending_notice_for BIGINT"];

const DOWN: &[&str] = &["ALTER TABLE broker_grants DROP COLUMN ending_notice_for"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in UP {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in DOWN {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }
}
