//! The in-memory state CheckAccess reads instead of the database: per session,
//! whether it is live, its grant's end and its scope. Entries are dropped when
//! this broker ends access, when another broker's NOTIFY or the revocation
//! poll says so, and are re-read from the database once older than
//! `broker.session_cache_ms`, which bounds staleness if all else fails. A
//! `moka` cache: bounded, time-to-live, and one load per session at a time.

use crate::domain::grant::Grant;
use crate::domain::scope::Scope;
use crate::domain::session::Session;
use crate::domain::state::GrantState;
use crate::error::Error;
use crate::store::Ended;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

impl SessionState {
    /// The state of session `s` under grant `g`, as stored.
    pub fn of(s: &Session, g: &Grant) -> Self {
        let ended_reason = if s.ended_at.is_some() {
            format!("the support session has ended ({})", s.end_reason)
        } else {
            match g.state {
                GrantState::Active => String::new(),
                GrantState::Revoked => "the grant was revoked".into(),
                GrantState::Expired => "the grant was expired".into(),
            }
        };
        Self {
            session_id: s.id.clone(),
            tenant_id: s.tenant_id.clone(),
            agent_id: s.agent_id.clone(),
            grant_id: g.id.clone(),
            live: ended_reason.is_empty(),
            ended_reason,
            grant_expire: g.expire_at,
            scope: g.scope.clone(),
            agent: g.agent.clone(),
            granted_by: g.granted_by.clone(),
            ticket_ref: g.ticket_ref.clone(),
            reason: s.reason.clone(),
        }
    }
}

/// Why a load put nothing in the cache.
enum Miss {
    /// No such session.
    Absent,
    /// Read before an invalidation that came during the read: answered, not kept.
    Stale(Arc<SessionState>),
    /// The read failed; the first caller to look takes the error.
    Failed(Mutex<Option<Error>>),
}

/// The cache.
pub struct AccessCache {
    entries: Cache<String, Arc<SessionState>>,
    generation: AtomicU64,
}

impl Default for AccessCache {
    /// With the configuration's defaults (the one place they are set).
    fn default() -> Self {
        let s = crate::config::Settings::of(&keyholder_kit::config::Config::default());
        Self::new(s.session_cache, s.session_cache_capacity)
    }
}

impl AccessCache {
    /// An empty cache of at most `capacity` entries, each re-read after
    /// `max_age` (`broker.session_cache_ms`, `broker.session_cache_capacity`).
    pub fn new(max_age: Duration, capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(max_age)
                .support_invalidation_closures()
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    /// The current invalidation generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A fresh entry, if any.
    pub async fn get(&self, session_id: &str) -> Option<Arc<SessionState>> {
        self.entries.get(session_id).await
    }

    /// The session's state: a fresh entry, or what `load` reads. Concurrent
    /// misses for one session share one load (single flight). A read that an
    /// invalidation overtook is answered but not kept, so the cache never
    /// holds state older than the last end of access it heard of.
    pub async fn get_or_load<F>(
        &self,
        session_id: &str,
        load: F,
    ) -> Result<Option<Arc<SessionState>>, Error>
    where
        F: Future<Output = Result<Option<SessionState>, Error>>,
    {
        let before = self.generation();
        let loaded = self
            .entries
            .try_get_with_by_ref(session_id, async {
                match load.await {
                    Ok(None) => Err(Miss::Absent),
                    Ok(Some(st)) if self.generation() != before => Err(Miss::Stale(Arc::new(st))),
                    Ok(Some(st)) => Ok(Arc::new(st)),
                    Err(e) => Err(Miss::Failed(Mutex::new(Some(e)))),
                }
            })
            .await;
        match loaded {
            Ok(st) => {
                // An invalidation between the check above and moka's insert
                // would otherwise miss the new entry.
                if self.generation() != before {
                    self.entries.invalidate(session_id).await;
                }
                Ok(Some(st))
            }
            Err(miss) => match &*miss {
                Miss::Absent => Ok(None),
                Miss::Stale(st) => Ok(Some(st.clone())),
                Miss::Failed(e) => {
                    Err(e.lock().ok().and_then(|mut e| e.take()).unwrap_or_else(|| {
                        Error::Internal("reading the support session failed".into())
                    }))
                }
            },
        }
    }

    /// Stores state read from the database, unless an invalidation happened
    /// since `generation` was taken (the read may predate it).
    pub async fn put(&self, state: Arc<SessionState>, generation: u64) {
        if self.generation() != generation {
            return;
        }
        self.entries.insert(state.session_id.clone(), state).await;
    }

    /// Drops the entries of ended sessions and of sessions under ended grants.
    pub async fn invalidate(&self, ended: &Ended) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for s in &ended.sessions {
            self.entries.invalidate(s).await;
        }
        if !ended.grants.is_empty() {
            let grants = ended.grants.clone();
            if let Err(e) = self
                .entries
                .invalidate_entries_if(move |_, st| grants.contains(&st.grant_id))
            {
                // Never expected (the builder enables closures); start over
                // rather than keep what may have ended.
                tracing::error!(error = %e, "invalidating by grant failed; clearing the cache");
                self.entries.invalidate_all();
            }
        }
    }

    /// Drops everything (after a lost notification stream).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Person;

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
            agent: Person::default(),
            granted_by: Person::default(),
            ticket_ref: String::new(),
            reason: String::new(),
        })
    }

    #[tokio::test]
    async fn invalidation_by_grant_and_stale_puts_are_dropped() {
        let c = AccessCache::default();
        let g0 = c.generation();
        c.put(st("s1", "g1"), g0).await;
        c.put(st("s2", "g2"), g0).await;
        assert!(c.get("s1").await.is_some());
        c.invalidate(&Ended {
            grants: vec!["g1".into()],
            sessions: vec![],
        })
        .await;
        assert!(c.get("s1").await.is_none());
        assert!(c.get("s2").await.is_some());
        // A read that began before the invalidation must not be cached.
        c.put(st("s1", "g1"), g0).await;
        assert!(c.get("s1").await.is_none());
    }

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let c = Arc::new(AccessCache::default());
        let loads = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let miss = |c: Arc<AccessCache>, loads: Arc<AtomicU64>, gate: Arc<tokio::sync::Notify>| {
            tokio::spawn(async move {
                c.get_or_load("s1", async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Ok(Some((*st("s1", "g1")).clone()))
                })
                .await
                .ok()
                .flatten()
                .map(|s| s.session_id.clone())
            })
        };
        let first = miss(c.clone(), loads.clone(), gate.clone());
        let second = miss(c.clone(), loads.clone(), gate.clone());
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // One load runs; the other miss waits for it instead of reading too.
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        gate.notify_one();
        assert_eq!(first.await.ok().flatten().as_deref(), Some("s1"));
        assert_eq!(second.await.ok().flatten().as_deref(), Some("s1"));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(c.get("s1").await.is_some());
    }

    #[tokio::test]
    async fn a_load_overtaken_by_an_invalidation_is_answered_not_kept() {
        let c = AccessCache::default();
        let got = c
            .get_or_load("s1", async {
                c.invalidate(&Ended {
                    grants: vec!["g1".into()],
                    sessions: vec![],
                })
                .await;
                Ok(Some((*st("s1", "g1")).clone()))
            })
            .await;
        assert!(matches!(got, Ok(Some(_))));
        assert!(c.get("s1").await.is_none());
        let absent = c.get_or_load("s2", async { Ok(None) }).await;
        assert!(matches!(absent, Ok(None)));
        let failed = c
            .get_or_load("s3", async { Err(Error::Internal("down".into())) })
            .await;
        assert!(matches!(failed, Err(Error::Internal(m)) if m == "down"));
    }

    #[tokio::test]
    async fn old_entries_are_not_served() {
        let c = AccessCache::new(Duration::ZERO, 1_000);
        c.put(st("s1", "g1"), c.generation()).await;
        assert!(c.get("s1").await.is_none());
    }
}
