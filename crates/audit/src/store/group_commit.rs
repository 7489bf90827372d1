//! Group commit of appends (`keyholder_kit::group_commit`): concurrent
//! appends to one tenant's log share a transaction. Each tenant has at most
//! one committer task; callers queue their events and wait. The committer
//! takes everything queued (up to [`MAX_GROUP`] events), extends the chain
//! in memory in arrival order, writes it with multi-row inserts and one
//! commit (one fsync), then answers every caller of that group. An answer
//! is only sent after the commit returned, so acknowledged means durable;
//! the chain head's conditional update still guards against another process
//! appending at the same time.
//!
//! Why a task rather than a lock: while one group commits, the next one
//! fills up, so the database sees few large transactions instead of many
//! small ones queueing on the tenant's head row.

use super::Store;
use super::events::{Fate, IngestOutcome, by_tenant};
use crate::domain::event::Incoming;
use crate::error::Error;
use keyholder_kit::group_commit::{GroupCommitter, GroupWriter, Waiting};

/// The most events one group commit writes; more wait for the next.
pub const MAX_GROUP: usize = 5_000;

type Answer = Result<Vec<Fate>, Error>;

/// Appends through per-tenant group commits.
#[derive(Clone)]
pub struct GroupCommit {
    store: Store,
    queues: GroupCommitter<String, Vec<Incoming>, Answer>,
}

impl GroupCommit {
    /// Group commits over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            queues: GroupCommitter::new(MAX_GROUP),
        }
    }

    /// Appends events (any tenants), skipping ids already stored; returns
    /// once every tenant's events are committed.
    pub async fn ingest(&self, events: Vec<Incoming>) -> Result<IngestOutcome, Error> {
        let replies: Vec<_> = by_tenant(events)
            .into_iter()
            .map(|(tenant, list)| self.queues.submit(&self.store, tenant, list))
            .collect();
        let mut total = IngestOutcome::default();
        for rx in replies {
            let fates = rx
                .await
                .map_err(|_| Error::Internal("the append task ended without an answer".into()))??;
            total.add(&fates);
        }
        Ok(total)
    }
}

impl GroupWriter<String, Vec<Incoming>, Answer> for Store {
    fn weight(&self, events: &Vec<Incoming>) -> usize {
        events.len()
    }

    fn stopped(&self) -> Answer {
        Err(Error::Internal("the append task stopped".into()))
    }

    /// Commits one group and answers its callers. When the group fails as a
    /// whole, each caller's events are retried alone, so one bad request
    /// (say, text PostgreSQL cannot store) fails only itself.
    async fn write(&self, tenant: &String, group: Vec<Waiting<Vec<Incoming>, Answer>>) {
        if group.len() == 1 {
            for w in group {
                let r = self.append_with_retries(tenant, &w.item).await;
                w.answer(r);
            }
            return;
        }
        let sizes: Vec<usize> = group.iter().map(|w| w.item.len()).collect();
        let mut replies = Vec::with_capacity(group.len());
        let mut all = Vec::with_capacity(sizes.iter().sum());
        for w in group {
            all.extend(w.item);
            replies.push(w.reply);
        }
        match self.append_with_retries(tenant, &all).await {
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
                    let r = self.append_with_retries(tenant, mine).await;
                    let _ = reply.send(r);
                }
            }
        }
    }
}
