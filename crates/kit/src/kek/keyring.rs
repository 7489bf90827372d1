//! The ring of KEKs a service holds, and what sealing and opening with it does.

use super::envelope::{aad, parse_envelope};
use super::{FORMAT, KekError, KeyEncryptionKey, LocalKek, is_envelope};
use crate::config::Config;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::Path;
use std::sync::Arc;

/// The KEKs a service holds: the first seals, every one opens.
#[derive(Clone)]
pub struct KekRing {
    keys: Arc<Vec<Arc<dyn KeyEncryptionKey>>>,
}

impl std::fmt::Debug for KekRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| k.id()))
            .finish()
    }
}

/// What [`KekRing::reseal`] made of a stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resealed {
    /// Already sealed with the ring's current KEK: nothing to write.
    Current,
    /// Sealed with an older KEK of the ring: this is the new envelope.
    Rewrapped(String),
    /// Plaintext from an earlier version: this is its envelope.
    WasPlaintext(String),
}

impl KekRing {
    /// A ring of `keys`, the first being the one that seals.
    pub fn new(keys: Vec<Arc<dyn KeyEncryptionKey>>) -> Result<Self, KekError> {
        if keys.is_empty() {
            return Err(KekError::NotConfigured);
        }
        Ok(Self {
            keys: Arc::new(keys),
        })
    }

    /// A ring from text holding base64 keys separated by newlines, commas or
    /// spaces; the first is the current one. `#` starts a comment line.
    pub fn parse(text: &str) -> Result<Self, KekError> {
        let keys = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split([',', ' ', '\t']))
            .filter(|k| !k.trim().is_empty())
            .map(|k| LocalKek::from_base64(k).map(|k| Arc::new(k) as Arc<dyn KeyEncryptionKey>))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// A ring from a KEK file (a mounted Kubernetes Secret, or the one
    /// `keyholder up` writes).
    pub fn from_file(path: &Path) -> Result<Self, KekError> {
        let text = std::fs::read_to_string(path).map_err(|source| KekError::Io {
            path: path.display().to_string(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o007 != 0
            {
                // Group-readable is how Kubernetes mounts a Secret for the
                // pod's fsGroup; readable by everyone is a mistake.
                tracing::warn!(path = %path.display(), "the key-encryption key file is readable by every user; make it 0600 (or 0440 for a Kubernetes Secret)");
            }
        }
        Self::parse(&text)
    }

    /// The ring the configuration names: `KEYHOLDER_KEK` wins over
    /// `KEYHOLDER_KEK_FILE`.
    pub fn from_config(config: &Config) -> Result<Self, KekError> {
        match (&config.kek, &config.kek_file) {
            (Some(keys), _) => Self::parse(keys.expose()),
            (None, Some(path)) => Self::from_file(path),
            (None, None) => Err(KekError::NotConfigured),
        }
    }

    /// The id of the KEK that seals.
    pub fn current_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id())
    }

    /// Ids of every KEK held, the current one first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id().to_string()).collect()
    }

    /// Seals `plaintext` for `purpose` (e.g. `identity.totp`) of the row `row`.
    pub fn seal(&self, purpose: &str, row: &str, plaintext: &[u8]) -> Result<String, KekError> {
        let key = self.keys.first().ok_or(KekError::NotConfigured)?;
        let aad = aad(key.id(), purpose, row);
        let (nonce, ct) = key.seal(&aad, plaintext)?;
        Ok(format!(
            "{FORMAT}.{}.{}.{}",
            key.id(),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ct)
        ))
    }

    /// Seals text.
    pub fn seal_str(&self, purpose: &str, row: &str, plaintext: &str) -> Result<String, KekError> {
        self.seal(purpose, row, plaintext.as_bytes())
    }

    /// Opens an envelope sealed for `purpose` of `row` by any KEK held.
    /// Plaintext is refused: every stored value is sealed at start-up.
    pub fn open(&self, purpose: &str, row: &str, stored: &str) -> Result<Vec<u8>, KekError> {
        let parts = parse_envelope(stored).ok_or_else(|| {
            if is_envelope(stored) {
                KekError::Malformed(purpose.to_string())
            } else {
                KekError::NotSealed(purpose.to_string())
            }
        })?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id() == parts.kek_id)
            .ok_or_else(|| KekError::UnknownKek {
                what: purpose.to_string(),
                kek_id: parts.kek_id.to_string(),
            })?;
        key.open(
            &aad(key.id(), purpose, row),
            &parts.nonce,
            &parts.ciphertext,
        )
        .ok_or_else(|| KekError::Open(purpose.to_string()))
    }

    /// Opens an envelope of text.
    pub fn open_str(&self, purpose: &str, row: &str, stored: &str) -> Result<String, KekError> {
        String::from_utf8(self.open(purpose, row, stored)?)
            .map_err(|_| KekError::Malformed(purpose.to_string()))
    }

    /// Brings one stored value under the current KEK: plaintext from an
    /// earlier version is sealed as it is, an envelope of an older KEK is
    /// opened and sealed again.
    pub fn reseal(&self, purpose: &str, row: &str, stored: &[u8]) -> Result<Resealed, KekError> {
        let text = std::str::from_utf8(stored).ok().filter(|t| is_envelope(t));
        let Some(text) = text else {
            return Ok(Resealed::WasPlaintext(self.seal(purpose, row, stored)?));
        };
        if parse_envelope(text).is_some_and(|p| p.kek_id == self.current_id()) {
            // Opened anyway, so a value that is broken shows up now rather
            // than at the next sign-in.
            self.open(purpose, row, text)?;
            return Ok(Resealed::Current);
        }
        let plain = self.open(purpose, row, text)?;
        Ok(Resealed::Rewrapped(self.seal(purpose, row, &plain)?))
    }
}
