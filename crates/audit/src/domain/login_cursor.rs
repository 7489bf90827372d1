//! Page tokens of the login history: where the previous page ended (its last
//! entry's sign-in time and sequence), so the next page is one index range
//! read, never an OFFSET that grows with the depth, and entries added
//! meanwhile neither shift nor repeat a page.
//!
//! A token is opaque to callers (base64 of `k1:<time>:<sequence>:<check>`).
//! The check is a SHA-256 prefix over the position *and the listing it
//! belongs to* (tenant and filters), so an edited token, or one carried over
//! to another listing, is refused with one clear answer. It is not a MAC:
//! the position is no secret (the caller may start anywhere with the time
//! filters anyway), so a key would buy nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Longest token looked at; issued ones are about 60 characters.
const MAX_TOKEN_LEN: usize = 128;
/// Separates the check from what it checks, and names this token's version.
const CHECK_CONTEXT: &[u8] = b"keyholder login page token v1\0";

/// Where a page of the login history ended: entries are listed newest
/// first by (sign-in time, sequence), and the next page starts below this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last entry's sign-in time (µs).
    pub sign_in_time: i64,
    /// The last entry's sequence in the chain.
    pub sequence: i64,
}

/// Why a login history page token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// A token of the offset format earlier releases issued.
    #[error(
        "page_token comes from an earlier version of this listing, which paged by position; start again without a page_token"
    )]
    OldFormat,
    /// Edited, truncated, made up, or issued for other filters. The message
    /// never repeats the token.
    #[error(
        "page_token is not valid for this listing; pass the next_page_token of the previous page with the same filters"
    )]
    Invalid,
}

/// The listing a token belongs to: the tenant and every filter, each
/// length-prefixed so no two listings share a scope.
pub fn scope(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
        out.extend_from_slice(p.as_bytes());
    }
    out
}

fn check(scope: &[u8], c: Cursor) -> String {
    let mut h = Sha256::new();
    h.update(CHECK_CONTEXT);
    h.update(scope);
    h.update(c.sign_in_time.to_be_bytes());
    h.update(c.sequence.to_be_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The token that resumes the listing `scope` after `c`.
pub fn encode(scope: &[u8], c: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "k1:{}:{}:{}",
        c.sign_in_time,
        c.sequence,
        check(scope, c)
    ))
}

/// Reads a token strictly: canonical integers, a matching check.
pub fn decode(scope: &[u8], token: &str) -> Result<Cursor, CursorError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(CursorError::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| CursorError::Invalid)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| CursorError::Invalid)?;
    if text.starts_with("o:") {
        return Err(CursorError::OldFormat);
    }
    let mut parts = text.split(':');
    let (Some("k1"), Some(time), Some(seq), Some(sum), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(CursorError::Invalid);
    };
    let c = Cursor {
        sign_in_time: canonical_int(time)?,
        sequence: canonical_int(seq)?,
    };
    if sum != check(scope, c) {
        return Err(CursorError::Invalid);
    }
    Ok(c)
}

/// An i64 written as `to_string` writes it, nothing else.
fn canonical_int(s: &str) -> Result<i64, CursorError> {
    let n: i64 = s.parse().map_err(|_| CursorError::Invalid)?;
    if n.to_string() != s {
        return Err(CursorError::Invalid);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn round_trips_within_its_listing() {
        let s = scope(&["t1", "", "0"]);
        let c = Cursor {
            sign_in_time: 1_700_000_000_123_456,
            sequence: 42,
        };
        assert_eq!(decode(&s, &encode(&s, c)), Ok(c));
        let negative = Cursor {
            sign_in_time: -5,
            sequence: 1,
        };
        assert_eq!(decode(&s, &encode(&s, negative)), Ok(negative));
    }

    #[test]
    fn another_listing_or_an_edit_is_refused() {
        let s = scope(&["t1", "", "0"]);
        let c = Cursor {
            sign_in_time: 10,
            sequence: 3,
        };
        let good = encode(&s, c);
        // Same position, other tenant or filter.
        assert_eq!(
            decode(&scope(&["t2", "", "0"]), &good),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            decode(&scope(&["t1", "agent", "0"]), &good),
            Err(CursorError::Invalid)
        );
        // Scopes are length-prefixed: moving a boundary is another scope.
        assert_ne!(scope(&["ab", "c"]), scope(&["a", "bc"]));
        let sum = check(&s, c);
        for bad in [
            raw(&format!("k1:11:3:{sum}")),
            raw(&format!("k1:10:4:{sum}")),
            raw(&format!("k1:010:3:{sum}")),
            raw(&format!("k1:+10:3:{sum}")),
            raw(&format!("k1:10:3:{sum}:x")),
            raw(&format!("k2:10:3:{sum}")),
            raw("k1:10:3"),
            raw("k1:99999999999999999999:3:00"),
            format!("{good}="),
            "A".repeat(10_000),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        ] {
            assert_eq!(decode(&s, &bad), Err(CursorError::Invalid), "{bad:.40}");
        }
    }

    #[test]
    fn an_offset_token_is_named_as_old() {
        let s = scope(&["t1"]);
        assert_eq!(
            decode(&s, &raw("o:50:1a2b3c4d")),
            Err(CursorError::OldFormat)
        );
        assert!(
            CursorError::OldFormat
                .to_string()
                .contains("without a page_token")
        );
    }
}
