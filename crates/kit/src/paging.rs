//! `page_size` / `page_token` paging. Tokens are opaque to callers (base64 of an
//! offset) so the encoding can change without breaking them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Default page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// The most a page may hold.
pub const MAX_PAGE_SIZE: u64 = 500;

/// A resolved page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return.
    pub limit: u64,
    /// Rows to skip.
    pub offset: u64,
}

/// Why a page request is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    /// Negative size.
    #[error("page_size must not be negative")]
    NegativeSize,
    /// Garbage token.
    #[error("page_token is not one this service issued")]
    BadToken,
}

impl Page {
    /// Reads `page_size` and `page_token`.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, PageError> {
        if page_size < 0 {
            return Err(PageError::NegativeSize);
        }
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => (n as u64).min(MAX_PAGE_SIZE),
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| PageError::BadToken)?;
            let text = std::str::from_utf8(&bytes).map_err(|_| PageError::BadToken)?;
            text.strip_prefix("o:")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or(PageError::BadToken)?
        };
        Ok(Self { limit, offset })
    }

    /// Query `limit + 1` rows, then call this with how many came back: it says
    /// the next token (empty at the end) and how many rows to keep.
    pub fn finish(&self, fetched: usize) -> (String, usize) {
        let limit = self.limit as usize;
        if fetched > limit {
            let next = URL_SAFE_NO_PAD.encode(format!("o:{}", self.offset + self.limit));
            (next, limit)
        } else {
            (String::new(), fetched)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_caps_and_round_trips() {
        let p = Page::parse(0, "").unwrap_or(Page {
            limit: 0,
            offset: 9,
        });
        assert_eq!(
            p,
            Page {
                limit: 50,
                offset: 0
            }
        );
        assert_eq!(Page::parse(10_000, "").map(|p| p.limit), Ok(500));
        assert_eq!(Page::parse(-1, ""), Err(PageError::NegativeSize));
        assert_eq!(Page::parse(5, "%%%"), Err(PageError::BadToken));
        let p = Page::parse(2, "").unwrap_or(Page {
            limit: 0,
            offset: 0,
        });
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
}
