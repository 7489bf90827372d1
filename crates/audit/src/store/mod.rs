//! Every database call of the audit service.

pub mod chain;
pub mod copy_binary;
pub mod entities;
pub mod events;
pub mod group_commit;
pub mod outbox;
pub mod sign_ins;

use keyholder_kit::clock::SharedClock;
use sea_orm::DatabaseConnection;

/// Audit's tables.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) clock: SharedClock,
}

impl Store {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// The connection (tests reach into the tables through it).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn now_us(&self) -> i64 {
        keyholder_kit::instant::to_stored(self.clock.now())
    }
}

/// True for errors a retry may cure: a unique-key race or a busy database.
pub(crate) fn is_retryable(e: &sea_orm::DbErr) -> bool {
    if matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) {
        return true;
    }
    let text = e.to_string().to_lowercase();
    text.contains("database is locked")
        || text.contains("busy")
        || text.contains("could not serialize")
        || text.contains("deadlock")
}
