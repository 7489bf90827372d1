//! Randomness for ids, secrets and generated passwords.

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// `n` random bytes from the system's CSPRNG.
pub fn bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::internal("system random source failed"))?;
    Ok(buf)
}

/// A random URL-safe secret of `n` bytes of entropy.
pub fn secret(n: usize) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(bytes(n)?))
}

/// A new time-ordered id.
pub fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}
