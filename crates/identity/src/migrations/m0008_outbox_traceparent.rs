//! The W3C `traceparent` of the call that wrote an outbox row, so its
//! delivery to audit joins that call's trace instead of starting its own.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_outbox_traceparent"
    }
}

const UP: &str = "ALTER TABLE identity_outbox ADD COLUMN traceparent TEXT NULL";

const DOWN: &str = "ALTER TABLE identity_outbox DROP COLUMN traceparent";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
