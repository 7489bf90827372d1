//! The reader of VerifyChain's PostgreSQL scan (a binary COPY,
//! `store::copy_binary`): any bytes, cut anywhere into two chunks, are read
//! exactly as they are in one, and nothing panics.

use keyholder_audit::store::copy_binary::{CopyError, Decoder};
use std::ops::ControlFlow;

/// The first byte says where to cut the rest.
pub fn chain_copy(data: &[u8]) {
    let (cut, bytes) = match data {
        [c, rest @ ..] => (usize::from(*c), rest),
        [] => (0, data),
    };
    let whole = read(&[bytes]);
    let at = cut % (bytes.len() + 1);
    let (a, b) = bytes.split_at(at);
    assert_eq!(read(&[a, b]), whole, "cut at {at} of {bytes:?}");
}

/// The rows read (as text) and how the reading ended.
fn read(chunks: &[&[u8]]) -> (Vec<String>, Result<(), CopyError>) {
    let mut d = Decoder::new();
    let mut rows = Vec::new();
    let mut visit = |r: keyholder_audit::domain::chain::ChainRowRef<'_>| {
        rows.push(format!("{r:?}"));
        ControlFlow::Continue(())
    };
    for c in chunks {
        if let Err(e) = d.feed(c, &mut visit) {
            return (rows, Err(e));
        }
    }
    let end = d.finish();
    (rows, end)
}
