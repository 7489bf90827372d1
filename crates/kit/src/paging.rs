//! `page_size` / `page_token` paging. Tokens are opaque to callers (base64 of
//! an offset and a short check) so the encoding can change without breaking
//! them, and a token that was not issued here is refused with one clear
//! answer instead of reaching the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Default page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// The most a page may hold.
pub const MAX_PAGE_SIZE: u64 = 500;
/// The furthest a listing pages. Offsets are bound as signed 64-bit integers
/// by the databases (a larger one made sea-query panic); far below that, a
/// listing this deep by offset is a mistake or an attack, not a use.
pub const MAX_OFFSET: u64 = 10_000_000;
/// Longest token looked at; issued tokens are about 30 characters.
const MAX_TOKEN_LEN: usize = 64;
/// Separates the check from what it checks, and names this token's version.
const CHECK_CONTEXT: &[u8] = b"keyholder page token v1\0";

/// A resolved page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return.
    pub limit: u64,
    /// Rows to skip (at most [`MAX_OFFSET`]).
    pub offset: u64,
}

/// Why a page request is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    /// Negative size.
    #[error("page_size must not be negative")]
    NegativeSize,
    /// A token this service did not issue (edited, truncated, made up). The
    /// message never repeats the token.
    #[error("page_token is not valid; pass the next_page_token of the previous page")]
    BadToken,
}

impl PageError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NegativeSize => "page_size",
            Self::BadToken => "page_token",
        }
    }
}

/// The check of an offset: 8 hex digits of a SHA-256. Not a MAC: the offset
/// is no secret (anyone may page to it), so a key would buy nothing; the
/// check catches edited and truncated tokens, [`MAX_OFFSET`] keeps the rest
/// harmless.
fn check(offset: u64) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(CHECK_CONTEXT);
    ctx.update(offset.to_string().as_bytes());
    hex_prefix(ctx.finish().as_ref())
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The token that resumes a listing at `offset`.
fn encode(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}:{}", check(offset)))
}

/// The offset in a token, read strictly: `o:<digits>:<check>`, digits in
/// canonical form (no sign, no leading zero), at most [`MAX_OFFSET`].
fn decode(token: &str) -> Result<u64, PageError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(PageError::BadToken);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| PageError::BadToken)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| PageError::BadToken)?;
    let (digits, sum) = text
        .strip_prefix("o:")
        .and_then(|rest| rest.split_once(':'))
        .ok_or(PageError::BadToken)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(PageError::BadToken);
    }
    let offset = digits.parse::<u64>().map_err(|_| PageError::BadToken)?;
    if offset > MAX_OFFSET || sum != check(offset) {
        return Err(PageError::BadToken);
    }
    Ok(offset)
}

impl Page {
    /// Reads `page_size` and `page_token`.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, PageError> {
        if page_size < 0 {
            return Err(PageError::NegativeSize);
        }
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => u64::from(n.unsigned_abs()).min(MAX_PAGE_SIZE),
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            decode(page_token)?
        };
        Ok(Self { limit, offset })
    }

    /// Query `limit + 1` rows, then call this with how many came back: it says
    /// the next token (empty at the end) and how many rows to keep.
    pub fn finish(&self, fetched: usize) -> (String, usize) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if fetched <= limit {
            return (String::new(), fetched);
        }
        let next = self.offset.saturating_add(self.limit);
        if next > MAX_OFFSET {
            // A token we would refuse is worse than an end: say where it stopped.
            tracing::warn!(
                offset = next,
                "listing reached the paging limit; rows beyond it are not served"
            );
            return (String::new(), limit);
        }
        (encode(next), limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn defaults_caps_and_round_trips() {
        assert_eq!(
            Page::parse(0, ""),
            Ok(Page {
                limit: 50,
                offset: 0
            })
        );
        assert_eq!(Page::parse(10_000, "").map(|p| p.limit), Ok(500));
        assert_eq!(Page::parse(-1, ""), Err(PageError::NegativeSize));
        assert_eq!(Page::parse(5, "%%%"), Err(PageError::BadToken));
        let p = Page {
            limit: 2,
            offset: 0,
        };
        let (next, keep) = p.finish(3);
        assert_eq!(keep, 2);
        assert_eq!(
            Page::parse(2, &next),
            Ok(Page {
                limit: 2,
                offset: 2
            })
        );
        assert_eq!(p.finish(2), (String::new(), 2));
    }

    #[test]
    fn offsets_beyond_the_limit_are_refused() {
        // The token that made sea-query panic (u64::MAX does not fit an i64).
        let crafted = token("o:18446744073709551615");
        assert_eq!(Page::parse(10, &crafted), Err(PageError::BadToken));
        let over = MAX_OFFSET + 1;
        let with_check = token(&format!("o:{over}:{}", check(over)));
        assert_eq!(Page::parse(10, &with_check), Err(PageError::BadToken));
        let at = token(&format!("o:{MAX_OFFSET}:{}", check(MAX_OFFSET)));
        assert_eq!(Page::parse(10, &at).map(|p| p.offset), Ok(MAX_OFFSET));
    }

    #[test]
    fn edited_or_odd_tokens_are_refused() {
        let good = encode(40);
        assert_eq!(Page::parse(10, &good).map(|p| p.offset), Ok(40));
        let cases = [
            token("o:40"),                              // the old, unchecked form
            token(&format!("o:41:{}", check(40))),      // offset edited
            token("o:40:00000000"),                     // check made up
            token(&format!("o:040:{}", check(40))),     // leading zero
            token(&format!("o:+40:{}", check(40))),     // sign
            token(&format!("o:-1:{}", check(0))),       // negative
            token(&format!("o::{}", check(0))),         // no digits
            token(&format!("x:40:{}", check(40))),      // wrong kind
            token(&format!("o:40:{}:x", check(40))),    // trailing junk
            format!("{good}="),                         // padding
            "A".repeat(100_000),                        // huge
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00]), // not UTF-8
        ];
        for bad in cases {
            assert_eq!(Page::parse(10, &bad), Err(PageError::BadToken), "{bad:.40}");
        }
    }

    #[test]
    fn the_refusal_does_not_echo_the_token() {
        let msg = PageError::BadToken.to_string();
        assert_eq!(
            msg,
            "page_token is not valid; pass the next_page_token of the previous page"
        );
    }

    #[test]
    fn the_last_page_before_the_limit_ends_the_listing() {
        let p = Page {
            limit: 500,
            offset: MAX_OFFSET - 100,
        };
        assert_eq!(p.finish(501), (String::new(), 500));
        let p = Page {
            limit: 100,
            offset: MAX_OFFSET - 100,
        };
        let (next, _) = p.finish(101);
        assert_eq!(Page::parse(100, &next).map(|p| p.offset), Ok(MAX_OFFSET));
    }
}
