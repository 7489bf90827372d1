//! Envelope encryption of the secrets services keep in their databases
//! (signing keys, TOTP secrets): each value is sealed with a key-encryption
//! key (KEK) that never enters the database, so a copy of the database file
//! alone yields no key.
//!
//! A stored value is a versioned text envelope `kh1.<kek id>.<nonce>.<ciphertext>`
//! (base64url), sealed with AES-256-GCM. The associated data binds it to its
//! purpose and row (`identity.totp:<user id>`), so a value copied into
//! another row or column no longer opens. A [`KekRing`] seals with its first
//! key and opens with any of its keys, which is what lets the KEK rotate
//! without downtime (ADR 0010).

mod envelope;
mod files;
mod keyring;
mod local;
#[cfg(test)]
mod tests;

pub use envelope::{is_envelope, kek_id_of};
pub use files::create_file_if_missing;
pub use keyring::{KekRing, Resealed};
pub use local::{LocalKek, generate};

/// The envelope's format tag; a new format gets a new tag.
const FORMAT: &str = "kh1";
/// Bytes of a KEK.
pub const KEK_LEN: usize = 32;

/// Why a secret could not be sealed or opened, or a KEK not loaded.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// Neither `KEYHOLDER_KEK` nor `KEYHOLDER_KEK_FILE` is set.
    #[error(
        "no key-encryption key configured: set KEYHOLDER_KEK_FILE (a file holding the key) or KEYHOLDER_KEK"
    )]
    NotConfigured,
    /// The KEK file cannot be read or written.
    #[error("key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A KEK is not 32 bytes of standard base64.
    #[error("a key-encryption key must be 32 bytes in standard base64 (one per line)")]
    BadKey,
    /// The stored value is not an envelope (plaintext left from an older version).
    #[error("the stored {0} is not sealed")]
    NotSealed(String),
    /// The envelope is malformed.
    #[error("the stored {0} is not a valid envelope")]
    Malformed(String),
    /// The envelope names a KEK this service does not hold.
    #[error(
        "the stored {what} is sealed with key-encryption key {kek_id}, which is not configured"
    )]
    UnknownKek {
        /// What was being opened.
        what: String,
        /// The KEK the envelope names.
        kek_id: String,
    },
    /// Authentication failed: wrong key, altered value, or a value moved from another row.
    #[error("the stored {0} does not open with its key-encryption key (altered or moved)")]
    Open(String),
    /// The system random generator or the cipher failed.
    #[error("sealing failed")]
    Seal,
}

/// A key that seals and opens small secrets. Implemented by a local AES key
/// (from a file or the environment); a cloud KMS can implement it by holding
/// a data key it unwrapped once at start-up.
pub trait KeyEncryptionKey: Send + Sync {
    /// A stable, non-secret id stored in each envelope.
    fn id(&self) -> &str;
    /// Seals `plaintext` bound to `aad`: (nonce, ciphertext with tag).
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KekError>;
    /// Opens what [`seal`](Self::seal) made; `None` when it does not authenticate.
    fn open(&self, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>>;
}
