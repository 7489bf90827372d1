//! Who owns a mailer's claims: an id kept in the data dir under an exclusive
//! file lock, so the same process restarted on the same data dir (a container
//! restart in its pod, `keyholder up` run again) comes back as the same owner
//! and may take its crashed predecessor's claims at once. The lock is what
//! makes that safe: the operating system drops it when a process dies, even
//! by `kill -9`, and no two live processes can hold it, so a worker never
//! takes a live peer's claims. A worker that cannot get the lock gets a fresh
//! id and reclaims nothing; its predecessor's claims then wait for their
//! short lease to expire (see ADR 0011).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The file in the data dir holding the mailer's id.
pub const OWNER_FILE: &str = "audit-mailer.id";

/// This process's identity as a mailer.
#[derive(Debug)]
pub struct MailOwner {
    id: String,
    reclaim: bool,
    // Held, never read: the lock lasts as long as the file stays open.
    _lock: Option<File>,
}

impl MailOwner {
    /// Takes the id in `data_dir` (creating it on first start), or a fresh
    /// one when the file is locked by a live process or cannot be used.
    pub fn acquire(data_dir: &Path) -> Self {
        match Self::locked(data_dir) {
            Ok(Some(owner)) => owner,
            Ok(None) => {
                tracing::info!(
                    dir = %data_dir.display(),
                    "another live process holds the mailer id in this data dir; using a fresh one"
                );
                Self::fresh()
            }
            Err(e) => {
                tracing::warn!(
                    dir = %data_dir.display(),
                    error = %e,
                    "cannot keep a mailer id in the data dir; claims left by a crash wait for their lease"
                );
                Self::fresh()
            }
        }
    }

    /// An id of its own, reclaiming nothing (tests, unusable data dirs).
    pub fn fresh() -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            reclaim: false,
            _lock: None,
        }
    }

    /// The id written into `lease_owner`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether claims already recorded under this id belong to a dead
    /// predecessor (the id was inherited, under the lock).
    pub fn reclaims(&self) -> bool {
        self.reclaim
    }

    fn locked(data_dir: &Path) -> std::io::Result<Option<Self>> {
        keyholder_kit::files::create_private_dir(data_dir)?;
        let path = data_dir.join(OWNER_FILE);
        // Owner-only like every file Keyholder makes (created empty at 0600
        // first, then opened without truncating what a predecessor kept).
        keyholder_kit::files::touch_private_file(&path)?;
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let mut kept = String::new();
        file.read_to_string(&mut kept)?;
        let (id, reclaim) = match uuid::Uuid::parse_str(kept.trim()) {
            Ok(id) => (id.to_string(), true),
            Err(_) => {
                let id = uuid::Uuid::new_v4().to_string();
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                file.write_all(id.as_bytes())?;
                file.sync_all()?;
                (id, false)
            }
        };
        Ok(Some(Self {
            id,
            reclaim,
            _lock: Some(file),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_same_data_dir_gives_the_same_id_once_the_holder_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = MailOwner::acquire(dir.path());
        assert!(!first.reclaims());
        let id = first.id().to_string();
        drop(first);
        let again = MailOwner::acquire(dir.path());
        assert_eq!(again.id(), id);
        assert!(again.reclaims());
    }

    #[test]
    fn a_live_holder_keeps_its_id_to_itself() {
        let dir = tempfile::tempdir().unwrap();
        let live = MailOwner::acquire(dir.path());
        let peer = MailOwner::acquire(dir.path());
        assert_ne!(peer.id(), live.id());
        assert!(!peer.reclaims());
        // The peer's fresh id was not written over the live holder's.
        let kept = std::fs::read_to_string(dir.path().join(OWNER_FILE)).unwrap();
        assert_eq!(kept, live.id());
    }

    #[test]
    fn an_unusable_data_dir_gives_a_fresh_id() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let owner = MailOwner::acquire(&file);
        assert!(!owner.reclaims());
        assert!(uuid::Uuid::parse_str(owner.id()).is_ok());
    }
}
