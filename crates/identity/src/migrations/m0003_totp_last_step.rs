//! The last TOTP time step each user signed in (or enrolled) with: a code is
//! accepted only for a later step, so one code never works twice (RFC 6238
//! §5.2).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE identity_users ADD COLUMN totp_last_step BIGINT NULL")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE identity_users DROP COLUMN totp_last_step")
            .await?;
        Ok(())
    }
}
