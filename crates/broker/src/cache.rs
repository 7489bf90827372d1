//! The in-memory state CheckAccess reads instead of the database: per session,
//! whether it is live, its grant's end and its scope. Entries are dropped when
//! this broker ends access, when another broker's NOTIFY or the revocation
//! poll says so, and are re-read from the database once older than
//! [`AccessCache::MAX_AGE`], which bounds staleness if all else fails.

use crate::domain::scope::Scope;
use crate::store::Ended;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// A session's state as CheckAccess needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    /// Session id.
    pub session_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Agent.
    pub agent_id: String,
    /// Grant.
    pub grant_id: String,
    /// Session not ended and grant not ended (by state; time is checked apart).
    pub live: bool,
    /// Why not live, if not.
    pub ended_reason: String,
    /// The grant's end.
    pub grant_expire: DateTime<Utc>,
    /// What is allowed.
    pub scope: Scope,
    /// The agent (for recorded decisions).
    pub agent: crate::domain::Person,
    /// The admin who granted access.
    pub granted_by: crate::domain::Person,
    /// The ticket.
    pub ticket_ref: String,
    /// The reason given at sign-in.
    pub reason: String,
}

struct Entry {
    state: Arc<SessionState>,
    loaded: Instant,
}

/// The cache.
pub struct AccessCache {
    map: RwLock<HashMap<String, Entry>>,
    generation: AtomicU64,
    max_age: Duration,
    /// One loader per session at a time: concurrent misses for the same
    /// session wait for the first one's read instead of each reading.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to load one session's state; see [`AccessCache::load_turn`].
pub struct LoadTurn<'a> {
    cache: &'a AccessCache,
    session_id: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for LoadTurn<'_> {
    fn drop(&mut self) {
        if let Ok(mut loading) = self.cache.loading.lock() {
            // Release first, then forget the lock if nobody else waits on it.
            self.guard.take();
            if loading
                .get(&self.session_id)
                .is_some_and(|l| Arc::strong_count(l) == 1)
            {
                loading.remove(&self.session_id);
            }
        }
    }
}

impl Default for AccessCache {
    fn default() -> Self {
        Self::new(Self::MAX_AGE)
    }
}

impl AccessCache {
    /// Default bound on an entry's age.
    pub const MAX_AGE: Duration = Duration::from_secs(1);
    /// Entries kept at most (beyond this the cache starts over).
    pub const CAPACITY: usize = 200_000;

    /// An empty cache with entries re-read after `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            max_age,
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this session's turn to load its state from the database.
    /// Check [`AccessCache::get`] again after it: the turn before may have
    /// loaded it already.
    pub async fn load_turn(&self, session_id: &str) -> LoadTurn<'_> {
        let lock = self
            .loading
            .lock()
            .ok()
            .map(|mut loading| loading.entry(session_id.to_string()).or_default().clone());
        let guard = match lock {
            Some(l) => Some(l.lock_owned().await),
            None => None,
        };
        LoadTurn {
            cache: self,
            session_id: session_id.to_string(),
            guard,
        }
    }

    /// The current invalidation generation; take it before reading the
    /// database and pass it to [`AccessCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A fresh entry, if any.
    pub fn get(&self, session_id: &str) -> Option<Arc<SessionState>> {
        let map = self.map.read().ok()?;
        let e = map.get(session_id)?;
        (e.loaded.elapsed() < self.max_age).then(|| e.state.clone())
    }

    /// Stores state read from the database, unless an invalidation happened
    /// since `generation` was taken (the read may predate it).
    pub fn put(&self, state: Arc<SessionState>, generation: u64) {
        if let Ok(mut map) = self.map.write() {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(
                state.session_id.clone(),
                Entry {
                    state,
                    loaded: Instant::now(),
                },
            );
        }
    }

    /// Drops the entries of ended sessions and of sessions under ended grants.
    pub fn invalidate(&self, ended: &Ended) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            for s in &ended.sessions {
                map.remove(s);
            }
            if !ended.grants.is_empty() {
                map.retain(|_, e| !ended.grants.contains(&e.state.grant_id));
            }
        }
    }

    /// Drops everything (after a lost notification stream).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(sid: &str, gid: &str) -> Arc<SessionState> {
        Arc::new(SessionState {
            session_id: sid.into(),
            tenant_id: "t".into(),
            agent_id: "a".into(),
            grant_id: gid.into(),
            live: true,
            ended_reason: String::new(),
            grant_expire: DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default(),
            scope: Scope::read_only(),
            agent: Default::default(),
            granted_by: Default::default(),
            ticket_ref: String::new(),
            reason: String::new(),
        })
    }

    #[test]
    fn invalidation_by_grant_and_stale_puts_are_dropped() {
        let c = AccessCache::default();
        let g0 = c.generation();
        c.put(st("s1", "g1"), g0);
        c.put(st("s2", "g2"), g0);
        assert!(c.get("s1").is_some());
        c.invalidate(&Ended {
            grants: vec!["g1".into()],
            sessions: vec![],
        });
        assert!(c.get("s1").is_none());
        assert!(c.get("s2").is_some());
        // A read that began before the invalidation must not be cached.
        c.put(st("s1", "g1"), g0);
        assert!(c.get("s1").is_none());
    }

    #[tokio::test]
    async fn concurrent_misses_take_turns_and_the_lock_is_forgotten_after() {
        let c = Arc::new(AccessCache::default());
        let first = c.load_turn("s1").await;
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move {
                let _turn = c.load_turn("s1").await;
                // The first turn filled the cache before letting us in.
                c.get("s1").map(|s| s.session_id.clone())
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        c.put(st("s1", "g1"), c.generation());
        drop(first);
        assert_eq!(waiter.await.ok().flatten().as_deref(), Some("s1"));
        assert!(c.loading.lock().map(|l| l.is_empty()).unwrap_or(false));
    }

    #[test]
    fn old_entries_are_not_served() {
        let c = AccessCache::new(Duration::ZERO);
        c.put(st("s1", "g1"), c.generation());
        assert!(c.get("s1").is_none());
    }
}
