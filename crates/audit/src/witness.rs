//! The witness: every signed checkpoint is also published outside the
//! database, where a database writer cannot reach, so rewriting and rehashing
//! the log, cutting it short or restoring an older copy of the database
//! leaves a signed record that disagrees. The default is an append-only
//! JSON-lines file per tenant in its own folder; the [`Witness`] trait is the
//! seam for other stores (S3 with object lock is the intended next one).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One signed checkpoint, as the witness keeps it (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRecord {
    /// Tenant.
    pub tenant_id: String,
    /// The chain's sequence the checkpoint covers.
    pub sequence: i64,
    /// The chain's hash at that sequence.
    pub hash: String,
    /// Which of audit's keys signed it.
    pub key_id: String,
    /// Base64 Ed25519 signature over `checkpoint_message(tenant, sequence, hash)`.
    pub signature: String,
    /// When it was signed.
    pub sign_time: DateTime<Utc>,
}

/// Why the witness could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The file system refused.
    #[error("witness file {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("witness record: {0}")]
    Encode(#[from] serde_json::Error),
    /// The blocking task was lost.
    #[error("witness task: {0}")]
    Task(String),
}

/// Somewhere outside the database that keeps every published checkpoint and
/// lets none be changed or removed afterwards.
#[async_trait]
pub trait Witness: Send + Sync {
    /// Keeps `record`; Ok only once it is durable.
    async fn publish(&self, record: &WitnessRecord) -> Result<(), WitnessError>;
    /// Every record kept for `tenant_id`, in the order published.
    async fn records(&self, tenant_id: &str) -> Result<Vec<WitnessRecord>, WitnessError>;
}

/// The default witness: `<dir>/<tenant>.jsonl`, opened for appending only,
/// each line flushed to disk before the checkpoint counts as published.
#[derive(Debug, Clone)]
pub struct FileWitness {
    dir: PathBuf,
}

impl FileWitness {
    /// Uses `dir`, creating it owner-only (0700) if missing.
    pub fn open(dir: &Path) -> Result<Self, WitnessError> {
        keyholder_kit::files::create_private_dir(dir).map_err(|source| WitnessError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The tenant's file: its id when that is a plain name, otherwise a
    /// hash of it (prefixed `_`, which plain names never contain), so no
    /// tenant id can point outside the folder.
    pub fn path(&self, tenant_id: &str) -> PathBuf {
        let plain = !tenant_id.is_empty()
            && tenant_id.len() <= 100
            && tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let name = if plain {
            format!("{tenant_id}.jsonl")
        } else {
            format!(
                "_{}.jsonl",
                hex::encode(Sha256::digest(tenant_id.as_bytes()))
            )
        };
        self.dir.join(name)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WitnessError> + Send + 'static,
) -> Result<T, WitnessError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WitnessError::Task(e.to_string()))?
}

/// Whether the file's last byte is not a newline (it is non-empty).
fn ends_mid_line(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[async_trait]
impl Witness for FileWitness {
    async fn publish(&self, record: &WitnessRecord) -> Result<(), WitnessError> {
        let path = self.path(&record.tenant_id);
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        blocking(move || {
            let io = |source| WitnessError::Io {
                path: path.clone(),
                source,
            };
            let mut f = keyholder_kit::files::open_private_append(&path).map_err(io)?;
            // A crash mid-line left a partial line: end it, so this record
            // starts a line of its own.
            if ends_mid_line(&path).map_err(io)? {
                line.insert(0, b'\n');
            }
            // One write per line: with O_APPEND concurrent writers never
            // interleave inside a line.
            f.write_all(&line).map_err(io)?;
            f.sync_data().map_err(io)
        })
        .await
    }

    async fn records(&self, tenant_id: &str) -> Result<Vec<WitnessRecord>, WitnessError> {
        let path = self.path(tenant_id);
        let tenant = tenant_id.to_string();
        blocking(move || {
            let io = |source| WitnessError::Io {
                path: path.clone(),
                source,
            };
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io(e)),
            };
            let mut out = Vec::new();
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.map_err(io)?;
                if line.trim().is_empty() {
                    continue;
                }
                // A line cut short by a crash is skipped; the record it was
                // would be re-signed and published by the next checkpoint.
                match serde_json::from_str::<WitnessRecord>(&line) {
                    Ok(r) if r.tenant_id == tenant => out.push(r),
                    Ok(_) => {
                        tracing::warn!(path = %path.display(), line = i + 1, "witness line of another tenant skipped")
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), line = i + 1, error = %e, "unreadable witness line skipped")
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(tenant: &str, sequence: i64) -> WitnessRecord {
        WitnessRecord {
            tenant_id: tenant.into(),
            sequence,
            hash: format!("{sequence:064x}"),
            key_id: "k1".into(),
            signature: "c2ln".into(),
            sign_time: DateTime::from_timestamp(1_700_000_000 + sequence, 0).unwrap(),
        }
    }

    #[tokio::test]
    async fn records_come_back_in_order_per_tenant_from_owner_only_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("witness");
        let w = FileWitness::open(&dir).unwrap();
        for r in [record("t-1", 2), record("t/../2", 1), record("t-1", 5)] {
            w.publish(&r).await.unwrap();
        }
        assert_eq!(
            w.records("t-1").await.unwrap(),
            vec![record("t-1", 2), record("t-1", 5)]
        );
        assert_eq!(
            w.records("t/../2").await.unwrap(),
            vec![record("t/../2", 1)]
        );
        assert_eq!(w.records("nobody").await.unwrap(), vec![]);
        assert_eq!(w.path("t-1"), dir.join("t-1.jsonl"));
        let hashed = w.path("t/../2");
        assert_eq!(hashed.parent(), Some(dir.as_path()));
        assert!(
            hashed
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with('_')
        );
        let text = std::fs::read_to_string(dir.join("t-1.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(r#"{"tenant_id":"t-1","sequence":2,"hash":"#));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("t-1.jsonl")), 0o600);
        }
    }

    #[tokio::test]
    async fn a_line_cut_short_is_skipped_and_later_lines_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let w = FileWitness::open(tmp.path()).unwrap();
        w.publish(&record("t", 1)).await.unwrap();
        let mut f = keyholder_kit::files::open_private_append(&w.path("t")).unwrap();
        f.write_all(br#"{"tenant_id":"t","seq"#).unwrap();
        w.publish(&record("t", 3)).await.unwrap();
        assert_eq!(
            w.records("t").await.unwrap(),
            vec![record("t", 1), record("t", 3)]
        );
    }
}
