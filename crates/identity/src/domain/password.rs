//! Passwords: argon2id (the crate's defaults: 19 MiB, 2 passes), salted per hash.

use crate::error::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (bounds hashing work).
pub const MAX_LEN: usize = 256;
/// Longest password accepted in bytes, checked before anything else so a huge
/// input is refused without even counting its characters.
pub const MAX_BYTES: usize = 1024;

/// Refuses passwords that are too short or too long.
pub fn validate(password: &str) -> Result<()> {
    if password.len() > MAX_BYTES {
        return Err(Error::invalid(format!(
            "password must be at most {MAX_BYTES} bytes long"
        )));
    }
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(Error::invalid(format!(
            "password must be at least {MIN_LEN} characters long"
        )));
    }
    if n > MAX_LEN {
        return Err(Error::invalid(format!(
            "password must be at most {MAX_LEN} characters long"
        )));
    }
    Ok(())
}

/// An argon2id PHC string of `password`.
pub fn hash(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// True when `password` matches the PHC string `stored`.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery").unwrap_or_default();
        let b = hash("correct horse battery").unwrap_or_default();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify("correct horse battery", &a));
        assert!(!verify("wrong horse battery", &a));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn length_rules() {
        assert!(validate("short").is_err());
        assert!(validate("twelve chars").is_ok());
        assert!(validate(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(validate(&"x".repeat(MAX_BYTES + 1)).is_err());
    }
}
