//! Identity's secrets at rest: signing keys, TOTP secrets (enrolled and
//! pending) and invitation tokens waiting in the outbox are stored sealed
//! with the key-encryption key (`keyholder_kit::kek`), each bound to its row.

use super::Store;
use keyholder_kit::kek::{KekError, KekRing};
use keyholder_kit::sealed::{ResealError, ResealReport, SealedColumn, reseal_all};
use sea_orm::ConnectionTrait;

/// Purpose bound into a signing key's envelope (row: the key id).
pub const SIGNING_KEY: &str = "identity.signing_key";
/// Purpose bound into a TOTP secret's envelope, enrolled or pending (row: the user id).
pub const TOTP: &str = "identity.totp";
/// Purpose bound into an outbox event's secret (row: the event id).
pub const OUTBOX_SECRET: &str = "identity.outbox_secret";

/// Every sealed column of identity's tables.
pub const COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "identity_signing_keys",
        key: "kid",
        column: "private_key",
        purpose: SIGNING_KEY,
        binary: false,
    },
    SealedColumn {
        table: "identity_users",
        key: "user_id",
        column: "totp_secret",
        purpose: TOTP,
        binary: false,
    },
    SealedColumn {
        table: "identity_users",
        key: "user_id",
        column: "totp_pending",
        purpose: TOTP,
        binary: false,
    },
    SealedColumn {
        table: "identity_outbox",
        key: "event_id",
        column: "secret",
        purpose: OUTBOX_SECRET,
        binary: false,
    },
];

/// Brings every identity secret in `conn` under `ring`'s current KEK
/// (start-up and `keyholder admin rotate-kek`).
pub async fn reseal<C: ConnectionTrait>(
    conn: &C,
    ring: &KekRing,
) -> Result<ResealReport, ResealError> {
    reseal_all(conn, ring, COLUMNS).await
}

impl Store {
    /// The key-encryption keys.
    pub fn kek(&self) -> &KekRing {
        &self.kek
    }

    /// Seals any plaintext left by an earlier version, and anything sealed
    /// with an older KEK of the ring.
    pub async fn reseal_secrets(&self) -> Result<ResealReport, ResealError> {
        reseal(&self.db, &self.kek).await
    }

    /// Seals a TOTP secret of `user_id` for storing.
    pub fn seal_totp(&self, user_id: &str, secret: &str) -> Result<String, KekError> {
        self.kek.seal_str(TOTP, user_id, secret)
    }

    /// Opens a stored TOTP secret of `user_id`.
    pub fn open_totp(&self, user_id: &str, stored: &str) -> Result<String, KekError> {
        self.kek.open_str(TOTP, user_id, stored)
    }
}
