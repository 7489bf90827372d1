//! A TLS configuration built from files and rebuilt when they change, with
//! no restart: looked at again at most every `every` by the next connection
//! that needs it (no background task to stop). A changed set that does not
//! load (a key written before its certificate) keeps the last good one.

use super::TlsError;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Build<T> = Box<dyn Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync>;

struct State<T> {
    current: Arc<T>,
    digest: Vec<u8>,
    checked: Instant,
}

/// `T` built from the contents of `files`, kept in step with them.
pub(super) struct Reloading<T> {
    files: Vec<PathBuf>,
    every: Duration,
    build: Build<T>,
    state: Mutex<State<T>>,
}

/// One digest over every file's contents, so a change of content (not of
/// mtime, which a copy within the same second can keep) is what counts.
fn digest(contents: &[Vec<u8>]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for c in contents {
        ctx.update(&(c.len() as u64).to_be_bytes());
        ctx.update(c);
    }
    ctx.finish().as_ref().to_vec()
}

fn read_all(files: &[PathBuf]) -> Result<Vec<Vec<u8>>, TlsError> {
    files
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            })
        })
        .collect()
}

impl<T> Reloading<T> {
    /// Reads and builds now: a set that does not load fails the start.
    pub(super) fn new(
        files: Vec<PathBuf>,
        every: Duration,
        build: impl Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let contents = read_all(&files)?;
        let current = Arc::new(build(&contents)?);
        Ok(Self {
            every,
            build: Box::new(build),
            state: Mutex::new(State {
                current,
                digest: digest(&contents),
                checked: Instant::now(),
            }),
            files,
        })
    }

    /// The configuration for a new connection, reloaded first if the files
    /// changed since they were last looked at (and that was `every` ago).
    pub(super) async fn current(&self) -> Arc<T> {
        {
            let state = self.lock();
            if self.files.is_empty() || state.checked.elapsed() < self.every {
                return state.current.clone();
            }
        }
        let files = self.files.clone();
        let read = tokio::task::spawn_blocking(move || read_all(&files)).await;
        let fresh = match read {
            Ok(Ok(contents)) => Some(contents),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot re-read the TLS files; keeping the loaded ones");
                None
            }
            Err(_) => None,
        };
        let mut state = self.lock();
        state.checked = Instant::now();
        if let Some(contents) = fresh {
            let d = digest(&contents);
            if d != state.digest {
                match (self.build)(&contents) {
                    Ok(built) => {
                        state.current = Arc::new(built);
                        state.digest = d;
                        tracing::info!(files = ?self.files, "TLS files changed; new connections use them");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the changed TLS files do not load; keeping the loaded ones");
                    }
                }
            }
        }
        state.current.clone()
    }

    /// Nothing panics while holding the lock; were it poisoned anyway, the
    /// state inside is still whole, and a reload must not fail a call.
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
