//! Envelope encryption of the secrets services keep in their databases
//! (signing keys, TOTP secrets): each value is sealed with a key-encryption
//! key (KEK) that never enters the database, so a copy of the database file
//! alone yields no key.
//!
//! A stored value is a versioned text envelope `kh1.<kek id>.<nonce>.<ciphertext>`
//! (base64url), sealed with AES-256-GCM. The associated data binds it to its
//! purpose and row (`identity.totp:<user id>`), so a value copied into
//! another row or column no longer opens. A [`KekRing`] seals with its first
//! key and opens with any of its keys, which is what lets the KEK rotate
//! without downtime (ADR 0010).

use crate::config::Config;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use std::sync::Arc;

/// The envelope's format tag; a new format gets a new tag.
const FORMAT: &str = "kh1";
/// Bytes of a KEK.
pub const KEK_LEN: usize = 32;

/// Why a secret could not be sealed or opened, or a KEK not loaded.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// Neither `KEYHOLDER_KEK` nor `KEYHOLDER_KEK_FILE` is set.
    #[error(
        "no key-encryption key configured: set KEYHOLDER_KEK_FILE (a file holding the key) or KEYHOLDER_KEK"
    )]
    NotConfigured,
    /// The KEK file cannot be read or written.
    #[error("key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A KEK is not 32 bytes of standard base64.
    #[error("a key-encryption key must be 32 bytes in standard base64 (one per line)")]
    BadKey,
    /// The stored value is not an envelope (plaintext left from an older version).
    #[error("the stored {0} is not sealed")]
    NotSealed(String),
    /// The envelope is malformed.
    #[error("the stored {0} is not a valid envelope")]
    Malformed(String),
    /// The envelope names a KEK this service does not hold.
    #[error(
        "the stored {what} is sealed with key-encryption key {kek_id}, which is not configured"
    )]
    UnknownKek {
        /// What was being opened.
        what: String,
        /// The KEK the envelope names.
        kek_id: String,
    },
    /// Authentication failed: wrong key, altered value, or a value moved from another row.
    #[error("the stored {0} does not open with its key-encryption key (altered or moved)")]
    Open(String),
    /// The system random generator or the cipher failed.
    #[error("sealing failed")]
    Seal,
}

/// A key that seals and opens small secrets. Implemented by a local AES key
/// (from a file or the environment); a cloud KMS can implement it by holding
/// a data key it unwrapped once at start-up.
pub trait KeyEncryptionKey: Send + Sync {
    /// A stable, non-secret id stored in each envelope.
    fn id(&self) -> &str;
    /// Seals `plaintext` bound to `aad`: (nonce, ciphertext with tag).
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KekError>;
    /// Opens what [`seal`](Self::seal) made; `None` when it does not authenticate.
    fn open(&self, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>>;
}

/// A 256-bit AES-GCM key held in memory.
pub struct LocalKek {
    id: String,
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKek").field("id", &self.id).finish()
    }
}

impl LocalKek {
    /// A key from its 32 bytes. Its id is a hash of the key, so an operator
    /// never has to name keys and two different keys never share an id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KekError> {
        if bytes.len() != KEK_LEN {
            return Err(KekError::BadKey);
        }
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"keyholder kek id\0");
        ctx.update(bytes);
        let digest = ctx.finish();
        let id = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KekError::BadKey)?;
        Ok(Self {
            id,
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A key from standard base64 text.
    pub fn from_base64(text: &str) -> Result<Self, KekError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KekError::BadKey)?;
        Self::from_bytes(&bytes)
    }
}

impl KeyEncryptionKey for LocalKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KekError> {
        // Random 96-bit nonces: far fewer than 2^32 values are ever sealed
        // under one KEK, so a repeat is out of reach.
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| KekError::Seal)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| KekError::Seal)?;
        Ok((nonce.to_vec(), buf))
    }

    fn open(&self, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// A fresh random KEK in standard base64 (what a KEK file holds).
pub fn generate() -> Result<Secret, KekError> {
    let mut bytes = [0u8; KEK_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KekError::Seal)?;
    Ok(Secret::new(STANDARD.encode(bytes)))
}

/// Writes a fresh KEK to `path` (mode 0600, folder 0700) unless the file
/// exists; true when it wrote one.
pub fn create_file_if_missing(path: &Path) -> Result<bool, KekError> {
    use std::io::Write;
    let io = |source| KekError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir).map_err(io)?;
    }
    let key = generate()?;
    let mut f = crate::files::create_private_file(path, true).map_err(io)?;
    f.write_all(key.expose().as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(true)
}

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

/// True when `stored` looks like an envelope (not plaintext).
pub fn is_envelope(stored: &str) -> bool {
    stored.starts_with(FORMAT) && stored[FORMAT.len()..].starts_with('.')
}

/// The id of the KEK an envelope names.
pub fn kek_id_of(stored: &str) -> Option<String> {
    parse_envelope(stored).map(|p| p.kek_id.to_string())
}

struct Envelope<'a> {
    kek_id: &'a str,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn parse_envelope(stored: &str) -> Option<Envelope<'_>> {
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
fn aad(kek_id: &str, purpose: &str, row: &str) -> Vec<u8> {
    format!("{FORMAT}\0{kek_id}\0{purpose}\0{row}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(text: &str) -> KekRing {
        KekRing::parse(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn fresh() -> String {
        generate()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn seals_and_opens_bound_to_purpose_and_row() -> Result<(), KekError> {
        let r = ring(&fresh());
        let env = r.seal_str("identity.totp", "user-1", "JBSWY3DPEHPK3PXP")?;
        assert!(is_envelope(&env));
        assert!(!env.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            r.open_str("identity.totp", "user-1", &env)?,
            "JBSWY3DPEHPK3PXP"
        );
        // Moved to another row, or read as another purpose: refused.
        assert!(matches!(
            r.open("identity.totp", "user-2", &env),
            Err(KekError::Open(_))
        ));
        assert!(matches!(
            r.open("identity.signing_key", "user-1", &env),
            Err(KekError::Open(_))
        ));
        // Plaintext is refused, not passed through.
        assert!(matches!(
            r.open("identity.totp", "user-1", "JBSWY3DPEHPK3PXP"),
            Err(KekError::NotSealed(_))
        ));
        Ok(())
    }

    #[test]
    fn a_flipped_byte_does_not_open() -> Result<(), KekError> {
        let r = ring(&fresh());
        let env = r.seal("p", "row", b"secret")?;
        let mut bytes = env.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap_or_default();
        assert!(matches!(
            r.open("p", "row", &altered),
            Err(KekError::Open(_))
        ));
        Ok(())
    }

    #[test]
    fn a_ring_opens_with_old_keys_and_reseals_with_the_new() -> Result<(), KekError> {
        let (old, new) = (fresh(), fresh());
        let old_ring = ring(&old);
        let env_old = old_ring.seal("p", "row", b"secret")?;
        let both = ring(&format!("{new}\n{old}\n"));
        assert_eq!(both.ids().len(), 2);
        assert_eq!(both.open("p", "row", &env_old)?, b"secret");
        let Resealed::Rewrapped(env_new) = both.reseal("p", "row", env_old.as_bytes())? else {
            unreachable!("an old envelope is rewrapped")
        };
        assert_eq!(kek_id_of(&env_new).as_deref(), Some(both.current_id()));
        assert_eq!(
            both.reseal("p", "row", env_new.as_bytes())?,
            Resealed::Current
        );
        // The new key alone opens it; the old key alone no longer does.
        assert_eq!(ring(&new).open("p", "row", &env_new)?, b"secret");
        assert!(matches!(
            old_ring.open("p", "row", &env_new),
            Err(KekError::UnknownKek { .. })
        ));
        Ok(())
    }

    #[test]
    fn plaintext_from_an_earlier_version_is_sealed_as_it_was() -> Result<(), KekError> {
        let r = ring(&fresh());
        let Resealed::WasPlaintext(env) = r.reseal("p", "row", b"MC4CAQAwBQYDK2VwBCIEI")? else {
            unreachable!("plaintext is sealed")
        };
        assert_eq!(r.open("p", "row", &env)?, b"MC4CAQAwBQYDK2VwBCIEI");
        Ok(())
    }

    #[test]
    fn bad_keys_and_empty_rings_are_refused() {
        assert!(matches!(KekRing::parse(""), Err(KekError::NotConfigured)));
        assert!(matches!(
            KekRing::parse("# only a comment\n"),
            Err(KekError::NotConfigured)
        ));
        assert!(matches!(KekRing::parse("c2hvcnQ="), Err(KekError::BadKey)));
        assert!(matches!(
            KekRing::parse("not base64!"),
            Err(KekError::BadKey)
        ));
    }

    #[test]
    fn the_kek_file_is_written_once_owner_only() -> Result<(), KekError> {
        let dir = tempfile::tempdir().map_err(|source| KekError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("keys").join("keyholder.kek");
        assert!(create_file_if_missing(&path)?);
        let first = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(!create_file_if_missing(&path)?);
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), first);
        let r = KekRing::from_file(&path)?;
        assert_eq!(r.ids().len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0)
            };
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("keys")), 0o700);
        }
        Ok(())
    }
}
