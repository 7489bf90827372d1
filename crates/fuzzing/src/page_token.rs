//! Page tokens: any text as `page_token` with any `page_size`.

use keyholder_kit::paging::{MAX_OFFSET, MAX_PAGE_SIZE, Page, PageError};

/// The first four bytes are the page size; the rest is the token.
pub fn page_token(data: &[u8]) {
    let (size, token) = match data {
        [a, b, c, d, rest @ ..] => (i32::from_le_bytes([*a, *b, *c, *d]), rest),
        _ => (0, data),
    };
    let token = crate::text(token);
    match Page::parse(size, &token) {
        Ok(page) => {
            // Nothing out of range ever reaches a query.
            assert!(page.offset <= MAX_OFFSET, "offset {} accepted", page.offset);
            assert!(
                (1..=MAX_PAGE_SIZE).contains(&page.limit),
                "limit {} accepted",
                page.limit
            );
            assert!(size >= 0, "negative page_size {size} accepted");
            // A token the service issues leads on from this page.
            let full = usize::try_from(page.limit).unwrap_or(0) + 1;
            let (next, kept) = page.finish(full);
            assert_eq!(kept as u64, page.limit);
            if !next.is_empty() {
                let again = Page::parse(size, &next).expect("an issued token parses");
                assert_eq!(again.offset, page.offset + page.limit);
            }
        }
        Err(e) => {
            // The refusal is one of two fixed sentences: nothing of the
            // token (or anything else the caller sent) is in it.
            let msg = e.to_string();
            assert!(
                msg == PageError::NegativeSize.to_string()
                    || msg == PageError::BadToken.to_string(),
                "the refusal depends on the input: {msg}"
            );
        }
    }
}
