//! The local KEK: an AES-256-GCM key from a file or the environment.

use super::{KEK_LEN, KekError, KeyEncryptionKey};
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// A 256-bit AES-GCM key held in memory.
pub struct LocalKek {
    id: String,
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKek").field("id", &self.id).finish()
    }
}

impl LocalKek {
    /// A key from its 32 bytes. Its id is a hash of the key, so an operator
    /// never has to name keys and two different keys never share an id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KekError> {
        if bytes.len() != KEK_LEN {
            return Err(KekError::BadKey);
        }
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"keyholder kek id\0");
        ctx.update(bytes);
        let digest = ctx.finish();
        let id = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KekError::BadKey)?;
        Ok(Self {
            id,
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A key from standard base64 text.
    pub fn from_base64(text: &str) -> Result<Self, KekError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KekError::BadKey)?;
        Self::from_bytes(&bytes)
    }
}

impl KeyEncryptionKey for LocalKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KekError> {
        // Random 96-bit nonces: far fewer than 2^32 values are ever sealed
        // under one KEK, so a repeat is out of reach.
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| KekError::Seal)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| KekError::Seal)?;
        Ok((nonce.to_vec(), buf))
    }

    fn open(&self, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// A fresh random KEK in standard base64 (what a KEK file holds).
pub fn generate() -> Result<Secret, KekError> {
    let mut bytes = [0u8; KEK_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KekError::Seal)?;
    Ok(Secret::new(STANDARD.encode(bytes)))
}
