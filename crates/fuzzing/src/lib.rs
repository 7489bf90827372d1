//! Fuzz harnesses. Each public function takes the fuzzer's bytes, drives one
//! kind of input through Keyholder's real code, and panics when an oracle
//! fails: a crash, a forged token accepted, a rule that contradicts itself.
//!
//! The cargo-fuzz targets in `fuzz/` call these functions and nothing else,
//! and `tests/corpus.rs` replays the corpus those runs kept (plus a bounded
//! number of generated inputs) on every `cargo test`, so a crash once found
//! stays fixed.

// A harness reports a failed oracle by panicking: that is what a fuzzer
// catches and keeps.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

mod access_token;
mod chain_content;
mod chain_copy;
mod page_token;
mod requests;
mod rights;
mod session_token;

pub use access_token::access_token;
pub use chain_content::chain_content;
pub use chain_copy::chain_copy;
pub use page_token::page_token;
pub use requests::request;
pub use rights::rights;
pub use session_token::session_token;

use std::sync::OnceLock;

/// The names of the targets, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` name them.
pub const TARGETS: [&str; 7] = [
    "page_token",
    "access_token",
    "session_token",
    "rights",
    "request",
    "chain_content",
    "chain_copy",
];

/// Runs the target called `name` on `data`; false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "page_token" => page_token(data),
        "access_token" => access_token(data),
        "session_token" => session_token(data),
        "rights" => rights(data),
        "request" => request(data),
        "chain_content" => chain_content(data),
        "chain_copy" => chain_copy(data),
        _ => return false,
    }
    true
}

/// One runtime for every async harness, built once per process: a fuzzer
/// calls a harness hundreds of thousands of times.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// `data` as text, lossily: the targets whose input is a string.
pub(crate) fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The segments of a compact JWS, base64url-decoded; None if it is not one.
pub(crate) fn jws_parts(token: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut it = token.split('.');
    let head = URL_SAFE_NO_PAD.decode(it.next()?).ok()?;
    let body = URL_SAFE_NO_PAD.decode(it.next()?).ok()?;
    Some((head, body))
}

/// Applies the byte edits `edits` describes to `token`: pairs of
/// (position, byte), the fuzzer's way to tamper with a real token.
pub(crate) fn tamper(token: &str, edits: &[u8]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for pair in edits.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
        if bytes.is_empty() {
            break;
        }
        let at = at % (bytes.len() + 1);
        match pair[2] {
            // 0 deletes, 1 duplicates, anything else overwrites.
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => bytes.insert(at, bytes[at]),
            b if at < bytes.len() => bytes[at] = b,
            b => bytes.push(b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
