//! The relay: claims a batch under a lease, hands it to the service's
//! [`Sink`], settles each row by the sink's [`Outcome`], and loops until
//! shutdown, which it checks after every batch.

use super::rows::{self, DeadLetter, Message};
use super::{Backoff, Outbox};
use crate::CancellationToken;
use crate::clock::SharedClock;
use crate::instant::{duration_to_stored, to_stored};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Where a delivered row goes.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Delivers `batch` (oldest first) and says what became of each row, in
    /// order. After a transient failure of a row a sink answers
    /// [`Outcome::Retry`] for every later row of its tenant too (or simply
    /// every later row), so a tenant's rows never overtake each other.
    /// Missing outcomes count as retries.
    async fn deliver(&self, batch: &[Message]) -> Vec<Outcome>;
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver has it.
    Delivered,
    /// Not delivered this time (receiver down, timeout …): back off and retry.
    Retry(String),
    /// The receiver refused it for good: resending cannot help. A dead letter.
    Reject(String),
}

/// How a relay paces itself. The services' configs fill it in; the
/// defaults suit an event outbox to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayOptions {
    /// Rows per claim. An audit sink sends a claim in calls of at most
    /// 500 events (`audit::INGEST_LIMIT`).
    pub batch: u64,
    /// How often to look for rows written by other replicas (a local commit
    /// wakes the relay at once).
    pub poll: Duration,
    /// Wait after a row's failed attempts (and after database errors).
    pub backoff: Backoff,
    /// Attempts after which a row is given up (a dead letter).
    pub max_attempts: u32,
    /// How long a claim holds its rows; longer than a delivery can take,
    /// so only a relay that died lets it lapse.
    pub lease: Duration,
    /// How long delivered rows are kept before pruning.
    pub retention: Duration,
    /// How often to prune.
    pub prune_every: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            // One IngestEvents call's worth: with the services on both
            // cores, 500 moved 3–17 % more reported actions into audit than
            // 200 did, and no fewer on one shared core (BENCHMARKS.md).
            batch: 500,
            poll: Duration::from_secs(1),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(3)),
            // About a day of retries at the 3 s ceiling: an outage of the
            // receiver for hours loses nothing.
            max_attempts: 28_800,
            lease: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 60 * 60),
            prune_every: Duration::from_secs(600),
        }
    }
}

/// What one [`Relay::deliver_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows delivered.
    pub delivered: usize,
    /// Rows that failed and wait for a retry.
    pub retried: usize,
    /// Rows given up (refused, or out of attempts).
    pub dead: usize,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// The shortest wait before a retried row is due.
    pub retry_in: Option<Duration>,
}

impl Report {
    /// Rows settled for good (delivered or dead).
    pub fn settled(&self) -> usize {
        self.delivered + self.dead
    }
}

/// A relay and the handle to it (clones share it): run it in the
/// background with [`Relay::run`], or drive it with [`Relay::deliver_once`].
pub struct Relay<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Relay<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Relay<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("table", &self.inner.outbox.table())
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

struct Inner<S> {
    db: DatabaseConnection,
    outbox: Outbox,
    sink: S,
    clock: SharedClock,
    options: RelayOptions,
    /// This relay's lease owner id: fresh per process, so a restarted
    /// replica never mistakes a lapsed lease of its predecessor for its own.
    owner: String,
    wake: Arc<Notify>,
    sending: tokio::sync::Mutex<()>,
}

impl<S: Sink> Relay<S> {
    /// A relay of `outbox` in `db` to `sink`, timed by `clock`.
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        sink: S,
        clock: SharedClock,
        options: RelayOptions,
    ) -> Self {
        Self::with_wake(db, outbox, sink, clock, options, Arc::new(Notify::new()))
    }

    /// As [`Self::new`], woken by `wake` (notified after commits that
    /// enqueued rows).
    pub fn with_wake(
        db: DatabaseConnection,
        outbox: Outbox,
        sink: S,
        clock: SharedClock,
        options: RelayOptions,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                outbox,
                sink,
                clock,
                options,
                owner: uuid::Uuid::new_v4().to_string(),
                wake,
                sending: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.inner.sink
    }

    /// The options.
    pub fn options(&self) -> &RelayOptions {
        &self.inner.options
    }

    /// Claims one batch of due rows, delivers it, settles every row.
    pub async fn deliver_once(&self) -> Result<Report, DbErr> {
        self.deliver(false).await
    }

    /// As [`Self::deliver_once`], but rows waiting out a backoff are tried
    /// now too (tests and tools; leases and per-tenant order still hold).
    pub async fn deliver_now(&self) -> Result<Report, DbErr> {
        self.deliver(true).await
    }

    async fn deliver(&self, ahead_of_backoff: bool) -> Result<Report, DbErr> {
        let i = &*self.inner;
        // One batch at a time per relay: a test's call beside the
        // background loop waits for its batch instead of finding it leased.
        let _one = i.sending.lock().await;
        let now = to_stored(i.clock.now());
        let until = now.saturating_add(duration_to_stored(
            chrono::Duration::from_std(i.options.lease).unwrap_or(chrono::Duration::MAX),
        ));
        let due = if ahead_of_backoff { i64::MAX } else { now };
        let batch =
            rows::claim(&i.db, &i.outbox, &i.owner, now, due, until, i.options.batch).await?;
        if batch.is_empty() {
            return Ok(Report::default());
        }
        let mut outcomes = i.sink.deliver(&batch).await.into_iter();
        let now = i.clock.now();
        let now_us = to_stored(now);
        let mut report = Report {
            claimed: batch.len(),
            ..Report::default()
        };
        let mut delivered = Vec::with_capacity(batch.len());
        let txn = i.db.begin().await?;
        for m in &batch {
            let outcome = outcomes
                .next()
                .unwrap_or_else(|| Outcome::Retry("the sink gave no outcome".into()));
            match outcome {
                Outcome::Delivered => delivered.push(m.seq),
                Outcome::Reject(why) => {
                    self.give_up(&txn, m, now_us, &why, "refused for good")
                        .await?;
                    report.dead += 1;
                }
                Outcome::Retry(why) => {
                    let attempts = u32::try_from(m.attempts.saturating_add(1)).unwrap_or(u32::MAX);
                    if attempts >= i.options.max_attempts {
                        self.give_up(&txn, m, now_us, &why, "out of attempts")
                            .await?;
                        report.dead += 1;
                    } else {
                        let wait = i.options.backoff.delay(attempts);
                        let next = now
                            .checked_add_signed(i.options.backoff.chrono_delay(attempts))
                            .map_or(i64::MAX, to_stored);
                        rows::retry(&txn, &i.outbox, m.seq, &i.owner, next, &why).await?;
                        report.retried += 1;
                        report.retry_in = Some(report.retry_in.map_or(wait, |w| w.min(wait)));
                    }
                    report.last_error = Some(why);
                }
            }
        }
        rows::delivered(&txn, &i.outbox, &delivered, now_us).await?;
        txn.commit().await?;
        report.delivered = delivered.len();
        Ok(report)
    }

    async fn give_up<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        m: &Message,
        now_us: i64,
        why: &str,
        cause: &'static str,
    ) -> Result<(), DbErr> {
        let i = &*self.inner;
        // A receiver's reason names a field and a limit, never a value or a secret.
        tracing::error!(
            table = i.outbox.table(),
            event_id = %m.event_id,
            tenant_id = %m.tenant_id.chars().take(64).collect::<String>(),
            event_seq = m.seq,
            attempts = m.attempts + 1,
            error = %why,
            cause,
            "outbox row set aside as a dead letter; it will not be resent"
        );
        rows::dead(conn, &i.outbox, m.seq, &i.owner, now_us, why).await
    }

    /// Deletes delivered rows older than the retention; how many went.
    pub async fn prune(&self) -> Result<u64, DbErr> {
        const CHUNK: u64 = 1000;
        let i = &*self.inner;
        let keep = chrono::Duration::from_std(i.options.retention).unwrap_or(chrono::Duration::MAX);
        let before = to_stored(i.clock.now()).saturating_sub(duration_to_stored(keep));
        let mut total = 0;
        loop {
            let n = rows::prune(&i.db, &i.outbox, before, CHUNK).await?;
            total += n;
            if n < CHUNK {
                return Ok(total);
            }
        }
    }

    /// Rows waiting (neither delivered nor dead).
    pub async fn pending(&self) -> Result<u64, DbErr> {
        self.inner.outbox.pending(&self.inner.db).await
    }

    /// The dead letters, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, DbErr> {
        self.inner.outbox.dead_letters(&self.inner.db).await
    }

    /// Delivers until `shutdown`, checked after every batch: a stop waits
    /// for the batch in flight, never for the backlog.
    pub async fn run(self, shutdown: CancellationToken) {
        let i = &*self.inner;
        let table = i.outbox.table();
        let mut last_prune: Option<tokio::time::Instant> = None;
        let mut db_failures = 0u32;
        loop {
            if last_prune.is_none_or(|t| t.elapsed() >= i.options.prune_every) {
                last_prune = Some(tokio::time::Instant::now());
                match self.prune().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(table, pruned = n, "delivered outbox rows pruned"),
                    Err(e) => tracing::warn!(table, error = %e, "pruning the outbox failed"),
                }
            }
            let wait = match self.deliver_once().await {
                Ok(r) if r.retried > 0 => {
                    db_failures = 0;
                    let wait = r.retry_in.unwrap_or(i.options.poll).min(i.options.poll);
                    tracing::warn!(
                        table,
                        error = r.last_error.as_deref().unwrap_or_default(),
                        failed = r.retried,
                        retry_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "outbox delivery failed; retrying with backoff"
                    );
                    Some(wait)
                }
                // A full batch may have more behind it.
                Ok(r) if r.claimed > 0 => {
                    db_failures = 0;
                    None
                }
                Ok(_) => {
                    db_failures = 0;
                    Some(i.options.poll)
                }
                Err(e) => {
                    db_failures = db_failures.saturating_add(1);
                    let wait = i.options.backoff.delay(db_failures);
                    tracing::warn!(table, error = %e, retry_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "outbox relay cannot reach its database");
                    Some(wait)
                }
            };
            if shutdown.is_cancelled() {
                return;
            }
            if let Some(wait) = wait {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = i.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
