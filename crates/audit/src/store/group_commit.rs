//! Group commit: concurrent appends to one tenant's log share a
//! transaction. Each tenant has at most one committer task; callers queue
//! their events and wait. The committer takes everything queued (up to
//! [`MAX_GROUP`] events), extends the chain in memory in arrival order,
//! writes it with multi-row inserts and one commit (one fsync), then answers
//! every caller of that group. An answer is only sent after the commit
//! returned, so acknowledged means durable; the chain head's conditional
//! update still guards against another process appending at the same time.
//!
//! Why a task rather than a lock: while one group commits, the next one
//! fills up, so the database sees few large transactions instead of many
//! small ones queueing on the tenant's head row. A caller that goes away
//! does not cancel the commit of events it already handed over.

use super::Store;
use super::events::{Fate, IngestOutcome, by_tenant};
use crate::domain::event::Incoming;
use crate::error::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The most events one group commit writes; more wait for the next.
pub const MAX_GROUP: usize = 5_000;

struct Waiting {
    events: Vec<Incoming>,
    reply: oneshot::Sender<Result<Vec<Fate>, Error>>,
}

#[derive(Default)]
struct TenantQueue {
    waiting: Vec<Waiting>,
    /// Whether a committer task is running for the tenant.
    committing: bool,
}

/// Appends through per-tenant group commits.
#[derive(Clone)]
pub struct GroupCommit {
    store: Store,
    queues: Arc<Mutex<HashMap<String, TenantQueue>>>,
}

impl GroupCommit {
    /// Group commits over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            queues: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<String, TenantQueue>> {
        // A panic while holding the lock leaves only queued work behind.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends events (any tenants), skipping ids already stored; returns
    /// once every tenant's events are committed.
    pub async fn ingest(&self, events: Vec<Incoming>) -> Result<IngestOutcome, Error> {
        let mut replies = Vec::new();
        for (tenant, list) in by_tenant(events) {
            let (reply, rx) = oneshot::channel();
            let start = {
                let mut queues = self.queues();
                let q = queues.entry(tenant.clone()).or_default();
                q.waiting.push(Waiting {
                    events: list,
                    reply,
                });
                !std::mem::replace(&mut q.committing, true)
            };
            if start {
                tokio::spawn(self.clone().commit_loop(tenant));
            }
            replies.push(rx);
        }
        let mut total = IngestOutcome::default();
        for rx in replies {
            let fates = rx
                .await
                .map_err(|_| Error::Internal("the append task ended without an answer".into()))??;
            total.add(&fates);
        }
        Ok(total)
    }

    /// Takes the next group of `tenant`'s queue; empty (and the committer
    /// marked stopped) when nothing waits.
    fn next_group(&self, tenant: &str) -> Vec<Waiting> {
        let mut queues = self.queues();
        let Some(q) = queues.get_mut(tenant) else {
            return Vec::new();
        };
        let mut size = 0;
        let mut take = 0;
        for w in &q.waiting {
            if take > 0 && size + w.events.len() > MAX_GROUP {
                break;
            }
            size += w.events.len();
            take += 1;
        }
        let group: Vec<Waiting> = q.waiting.drain(..take).collect();
        if group.is_empty() {
            queues.remove(tenant);
        }
        group
    }

    async fn commit_loop(self, tenant: String) {
        loop {
            let group = self.next_group(&tenant);
            if group.is_empty() {
                return;
            }
            self.commit(&tenant, group).await;
        }
    }

    /// Commits one group and answers its callers. When the group fails as a
    /// whole, each caller's events are retried alone, so one bad request
    /// (say, text PostgreSQL cannot store) fails only itself.
    async fn commit(&self, tenant: &str, group: Vec<Waiting>) {
        if group.len() == 1 {
            for w in group {
                let r = self.store.append_with_retries(tenant, &w.events).await;
                let _ = w.reply.send(r);
            }
            return;
        }
        let sizes: Vec<usize> = group.iter().map(|w| w.events.len()).collect();
        let mut replies = Vec::with_capacity(group.len());
        let mut all = Vec::with_capacity(sizes.iter().sum());
        for w in group {
            all.extend(w.events);
            replies.push(w.reply);
        }
        match self.store.append_with_retries(tenant, &all).await {
            Ok(fates) => {
                let mut rest = fates.as_slice();
                for (reply, n) in replies.into_iter().zip(sizes) {
                    let (mine, tail) = rest.split_at(n.min(rest.len()));
                    rest = tail;
                    let _ = reply.send(Ok(mine.to_vec()));
                }
            }
            Err(e) => {
                tracing::debug!(tenant_id = %tenant, error = %e, "group commit failed; appending its requests one by one");
                let mut offset = 0;
                for (reply, n) in replies.into_iter().zip(sizes) {
                    let mine = &all[offset..offset + n];
                    offset += n;
                    let r = self.store.append_with_retries(tenant, mine).await;
                    let _ = reply.send(r);
                }
            }
        }
    }
}
