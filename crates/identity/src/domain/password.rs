//! Passwords: argon2id (the crate's defaults: 19 MiB, 2 passes), salted per hash.

use crate::error::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (bounds hashing work).
pub const MAX_LEN: usize = 256;
/// Longest password, in bytes, that is hashed or verified at all: `MAX_LEN`
/// characters of four UTF-8 bytes each, so no password that could be set is
/// ever refused at sign-in. Argon2 pre-hashes its input, so without a cap a
/// 3 MB password costs the server over half a second of CPU.
pub const MAX_BYTES: usize = MAX_LEN * 4;

/// Refuses a password too long to be worth hashing, before any work on it.
pub fn check_size(password: &str) -> Result<()> {
    if password.len() > MAX_BYTES {
        return Err(Error::invalid(format!(
            "password must be at most {MAX_LEN} characters long"
        )));
    }
    Ok(())
}

/// Refuses passwords that are too short or too long.
pub fn validate(password: &str) -> Result<()> {
    check_size(password)?;
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

/// Verifies `password` against a fixed hash with the same parameters as real
/// ones, for an unknown e-mail: the answer then takes as long as for a
/// wrong password, so e-mails cannot be probed by timing. Always false.
pub fn verify_dummy(password: &str) -> bool {
    verify(password, DUMMY_HASH)
}

/// An argon2id hash of a random string nobody kept, with the crate's default
/// parameters (a test checks they still match `hash`'s).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$byIN24xQsbVzLTJeyVYPvw$lAA5jD1i9lQJeckgigDK3OIu24DFa2x4M70tnxUziQk";

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
        // The longest settable password passes the sign-in size check.
        let key = "\u{1F511}";
        assert!(validate(&key.repeat(MAX_LEN)).is_ok());
        assert!(check_size(&key.repeat(MAX_LEN)).is_ok());
        assert!(check_size(&"x".repeat(MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = hash("whatever it is").unwrap_or_default();
        let params = |phc: &str| phc.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_dummy("no such user, no such password"));
    }
}
