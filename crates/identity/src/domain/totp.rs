//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of skew. The
//! time is a parameter so tests can use a manual clock.

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use totp_rs::{Builder, Secret, Totp};

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "Keyholder";

fn totp(secret_base32: &str) -> Result<Totp> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|_| Error::internal("stored TOTP secret is not base32"))?;
    Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|e| Error::internal(format!("cannot build TOTP: {e}")))
}

/// A fresh 160-bit secret, base32.
pub fn new_secret() -> Result<String> {
    let bytes = super::random::bytes(20)?;
    Ok(Secret::from(bytes).to_base32())
}

/// The time step `code` belongs to when it is valid at `now` (± one step),
/// else `None`. A code may be accepted only once (RFC 6238 §5.2): callers
/// take the step atomically and refuse a step not later than the last one.
pub fn check(secret_base32: &str, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret_base32).ok()?;
    let at = u64::try_from(now.timestamp()).unwrap_or(0);
    t.check(code, at).and_then(|step| i64::try_from(step).ok())
}

/// Refusal of a code whose step was already used.
pub const CODE_ALREADY_USED: &str = "this code was already used; wait for the next one";

/// The code at `now` (tests and tools).
pub fn code_at(secret_base32: &str, now: DateTime<Utc>) -> Result<String> {
    let at = u64::try_from(now.timestamp()).unwrap_or(0);
    Ok(totp(secret_base32)?.generate(at).to_string())
}

/// The `otpauth://` URI authenticator apps scan.
pub fn otpauth_uri(secret_base32: &str, account: &str) -> String {
    let label: String = account
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c.to_string(),
            other => {
                let mut buf = [0u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect();
    format!(
        "otpauth://totp/{ISSUER}:{label}?secret={secret_base32}&issuer={ISSUER}&algorithm=SHA1&digits=6&period=30"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_check_within_one_step_only() {
        let secret = new_secret().unwrap_or_default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let code = code_at(&secret, t0).unwrap_or_default();
        let step = 1_800_000_000 / 30;
        assert_eq!(check(&secret, &code, t0), Some(step));
        assert_eq!(
            check(&secret, &code, t0 + chrono::Duration::seconds(30)),
            Some(step),
            "the same code names the same step one step later"
        );
        assert_eq!(
            check(&secret, &code, t0 + chrono::Duration::seconds(120)),
            None
        );
        assert_eq!(check(&secret, "12345", t0), None);
        assert_eq!(check(&secret, "abcdef", t0), None);
        let next = code_at(&secret, t0 + chrono::Duration::seconds(30)).unwrap_or_default();
        assert_eq!(check(&secret, &next, t0), Some(step + 1));
    }

    #[test]
    fn uri_escapes_the_account() {
        let uri = otpauth_uri("ABC", "a@b.c");
        assert!(uri.starts_with("otpauth://totp/Keyholder:a%40b.c?secret=ABC"));
    }
}
