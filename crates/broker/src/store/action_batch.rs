//! Group commit of reported actions. A reported action is one outbox row
//! and nothing else, so concurrent reports can share a transaction: the
//! first caller starts a committer task, later callers queue their rows,
//! and the task writes everything queued (up to [`MAX_GROUP`] rows) with
//! multi-row inserts and one commit, then answers each caller. An answer is
//! sent only after the commit returned, so "recorded" means durable, as it
//! did with one transaction per call.
//!
//! Why: on SQLite every transaction is several statements handed one by one
//! to the driver's worker thread, and with one core a third of the broker's
//! time went to those hand-offs (BENCHMARKS.md, ReportAction end to end).
//! A caller that goes away does not cancel rows it already handed over.

use super::Store;
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::outbox::NewMessage;
use keyholder_proto::audit::v1::Event;
use prost::Message;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most rows one commit writes; more wait for the next.
pub const MAX_GROUP: usize = 2_000;

/// One caller's row, owned: the trace context is taken in the caller's span.
struct Waiting {
    event_id: String,
    tenant_id: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
    created_at: DateTime<Utc>,
    reply: oneshot::Sender<Result<(), Error>>,
}

impl Waiting {
    fn row(&self) -> NewMessage<'_> {
        NewMessage {
            event_id: &self.event_id,
            tenant_id: &self.tenant_id,
            payload: &self.payload,
            secret: None,
            traceparent: self.traceparent.as_deref(),
            created_at: self.created_at,
        }
    }
}

/// The queue of rows waiting for the next commit.
#[derive(Default)]
pub(crate) struct ActionQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<Waiting>,
    /// Whether a committer task is running.
    committing: bool,
}

impl ActionQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding the lock leaves only queued rows behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the next group; empty (and the committer marked stopped) when
    /// nothing waits.
    fn next_group(&self) -> Vec<Waiting> {
        let mut s = self.state();
        let take = s.waiting.len().min(MAX_GROUP);
        if take == 0 {
            s.committing = false;
        }
        s.waiting.drain(..take).collect()
    }
}

impl Store {
    /// Writes a reported action's event unless one with its id is there
    /// already (a retried report), sharing the transaction with concurrent
    /// reports; returns once it is committed.
    pub async fn record_action(&self, e: &Event, now: DateTime<Utc>) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        let w = Waiting {
            event_id: e.event_id.clone(),
            tenant_id: e.tenant_id.clone(),
            payload: e.encode_to_vec(),
            traceparent: keyholder_kit::telemetry::current_traceparent(),
            // The outbox keeps milliseconds until its own migration.
            created_at: DateTime::from_timestamp_millis(now.timestamp_millis())
                .unwrap_or(DateTime::UNIX_EPOCH),
            reply,
        };
        let start = {
            let mut s = self.actions.state();
            s.waiting.push(w);
            !std::mem::replace(&mut s.committing, true)
        };
        if start {
            tokio::spawn(self.clone().commit_actions());
        }
        answer
            .await
            .map_err(|_| Error::Internal("the action writer ended without an answer".into()))?
    }

    async fn commit_actions(self) {
        loop {
            let group = self.actions.next_group();
            if group.is_empty() {
                return;
            }
            self.commit_group(group).await;
        }
    }

    /// Commits one group and answers its callers. When the group fails as a
    /// whole, each row is retried in its own transaction, so one row the
    /// database refuses fails only its own caller.
    async fn commit_group(&self, group: Vec<Waiting>) {
        let rows: Vec<NewMessage<'_>> = group.iter().map(Waiting::row).collect();
        let result = self.write_rows(&rows).await;
        drop(rows);
        match result {
            Ok(()) => {
                for w in group {
                    let _ = w.reply.send(Ok(()));
                }
            }
            Err(e) if group.len() == 1 => {
                if let Some(w) = group.into_iter().next() {
                    let _ = w.reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, rows = group.len(), "group commit of actions failed; writing them one by one");
                for w in group {
                    let r = self.write_rows(&[w.row()]).await;
                    let _ = w.reply.send(r);
                }
            }
        }
    }

    async fn write_rows(&self, rows: &[NewMessage<'_>]) -> Result<(), Error> {
        let txn = self.begin().await?;
        super::outbox::OUTBOX.enqueue_many_once(&txn, rows).await?;
        self.commit(txn, &super::Ended::default()).await
    }
}
