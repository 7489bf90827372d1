//! The stored envelope `kh1.<kek id>.<nonce>.<ciphertext>` and the
//! associated data that binds it to its place.

use super::FORMAT;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::NONCE_LEN;

/// True when `stored` looks like an envelope (not plaintext).
pub fn is_envelope(stored: &str) -> bool {
    stored.starts_with(FORMAT) && stored[FORMAT.len()..].starts_with('.')
}

/// The id of the KEK an envelope names.
pub fn kek_id_of(stored: &str) -> Option<String> {
    parse_envelope(stored).map(|p| p.kek_id.to_string())
}

pub(super) struct Envelope<'a> {
    pub(super) kek_id: &'a str,
    pub(super) nonce: Vec<u8>,
    pub(super) ciphertext: Vec<u8>,
}

pub(super) fn parse_envelope(stored: &str) -> Option<Envelope<'_>> {
    let mut it = stored.split('.');
    if it.next()? != FORMAT {
        return None;
    }
    let kek_id = it.next().filter(|s| !s.is_empty())?;
    let nonce = URL_SAFE_NO_PAD.decode(it.next()?).ok()?;
    let ciphertext = URL_SAFE_NO_PAD.decode(it.next()?).ok()?;
    if it.next().is_some() || nonce.len() != NONCE_LEN {
        return None;
    }
    Some(Envelope {
        kek_id,
        nonce,
        ciphertext,
    })
}

/// The associated data: format, KEK, purpose and row, so an envelope opens
/// only where it was sealed.
pub(super) fn aad(kek_id: &str, purpose: &str, row: &str) -> Vec<u8> {
    format!("{FORMAT}\0{kek_id}\0{purpose}\0{row}").into_bytes()
}
