//! Group commit (ADR 0015): writes that may share a transaction queue up
//! per key, and one committer task per key writes everything queued as one
//! group, then answers each caller. While one group commits the next one
//! fills, so the database sees few large transactions instead of many small
//! ones; an answer is sent only after the write returned, so "acknowledged"
//! still means durable. Audit groups appends per tenant (one chain each);
//! broker groups reported actions under one key.
//!
//! What is shared here is the queueing and the committer's life; how a
//! group is written, and how its failure is shared out among its callers,
//! stays with the service ([`GroupWriter`]). A caller that goes away does
//! not cancel what it already handed over.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// One caller's share of a group: what it handed over, and where its
/// answer goes.
pub struct Waiting<I, R> {
    /// The caller's item.
    pub item: I,
    /// Its answer.
    pub reply: oneshot::Sender<R>,
}

impl<I, R> Waiting<I, R> {
    /// Answers the caller; one that has gone away is no error.
    pub fn answer(self, r: R) {
        let _ = self.reply.send(r);
    }
}

/// How a service writes a group of items queued under one key.
pub trait GroupWriter<K, I, R>: Clone + Send + Sync + 'static {
    /// How much of a group's budget `item` takes (its rows or events).
    fn weight(&self, item: &I) -> usize;

    /// Writes `group` (in arrival order) and answers every caller in it.
    fn write(&self, key: &K, group: Vec<Waiting<I, R>>) -> impl Future<Output = ()> + Send;

    /// The answer for a caller still queued when its committer ended
    /// without emptying the queue (a panic in [`GroupWriter::write`], or
    /// the runtime shutting down).
    fn stopped(&self) -> R;
}

/// The items waiting for a key's next group.
type Queue<I, R> = Vec<Waiting<I, R>>;

/// The queues of items waiting for their key's next group. A key has a
/// queue exactly while its committer task runs.
pub struct GroupCommitter<K, I, R> {
    queues: Arc<Mutex<HashMap<K, Queue<I, R>>>>,
    max_weight: usize,
}

impl<K, I, R> Clone for GroupCommitter<K, I, R> {
    fn clone(&self) -> Self {
        Self {
            queues: Arc::clone(&self.queues),
            max_weight: self.max_weight,
        }
    }
}

impl<K, I, R> GroupCommitter<K, I, R>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    I: Send + 'static,
    R: Send + 'static,
{
    /// Groups of at most `max_weight` (a single heavier item still goes,
    /// alone).
    pub fn new(max_weight: usize) -> Self {
        Self {
            queues: Arc::new(Mutex::new(HashMap::new())),
            max_weight,
        }
    }

    fn queues(&self) -> MutexGuard<'_, HashMap<K, Queue<I, R>>> {
        // A panic while holding the lock leaves only queued items behind.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` for `key`'s next group, starting a committer (with a
    /// clone of `writer`) when none runs for `key`. The receiver gets the
    /// answer once the group is written; it errs only if the committer
    /// dropped the reply unanswered.
    pub fn submit<W: GroupWriter<K, I, R>>(
        &self,
        writer: &W,
        key: K,
        item: I,
    ) -> oneshot::Receiver<R> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = self.queues();
            let waiting = Waiting { item, reply };
            match queues.get_mut(&key) {
                Some(q) => {
                    q.push(waiting);
                    false
                }
                None => {
                    queues.insert(key.clone(), vec![waiting]);
                    true
                }
            }
        };
        if start {
            // The committer owns its guard from here: should the task be
            // dropped before it first runs (a runtime shutting down), the
            // guard still answers what waits.
            let committer = Committer {
                queues: self.clone(),
                writer: writer.clone(),
                key,
                clean: false,
            };
            tokio::spawn(committer.run());
        }
        answer
    }

    /// Takes `key`'s next group: the longest run of queued items within
    /// the weight budget (at least one). Empty, and the queue gone, when
    /// nothing waits: the committer then ends, and the next submit starts
    /// another.
    fn next_group<W: GroupWriter<K, I, R>>(&self, writer: &W, key: &K) -> Vec<Waiting<I, R>> {
        let mut queues = self.queues();
        let Some(q) = queues.get_mut(key) else {
            return Vec::new();
        };
        let (mut weight, mut take) = (0usize, 0usize);
        for w in q.iter() {
            let n = writer.weight(&w.item);
            if take > 0 && weight.saturating_add(n) > self.max_weight {
                break;
            }
            weight = weight.saturating_add(n);
            take += 1;
        }
        if take == 0 {
            queues.remove(key);
            return Vec::new();
        }
        q.drain(..take).collect()
    }
}

/// A key's committer task: writes groups until the queue is empty. On any
/// other end (a panic in [`GroupWriter::write`], the task dropped) it
/// removes the queue, so the next submit starts a new committer, and
/// answers what waits in it, so no caller waits forever on a committer
/// that is gone.
struct Committer<K, I, R, W>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    I: Send + 'static,
    R: Send + 'static,
    W: GroupWriter<K, I, R>,
{
    queues: GroupCommitter<K, I, R>,
    writer: W,
    key: K,
    clean: bool,
}

impl<K, I, R, W> Committer<K, I, R, W>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    I: Send + 'static,
    R: Send + 'static,
    W: GroupWriter<K, I, R>,
{
    async fn run(mut self) {
        loop {
            let group = self.queues.next_group(&self.writer, &self.key);
            if group.is_empty() {
                self.clean = true;
                return;
            }
            self.writer.write(&self.key, group).await;
        }
    }
}

impl<K, I, R, W> Drop for Committer<K, I, R, W>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    I: Send + 'static,
    R: Send + 'static,
    W: GroupWriter<K, I, R>,
{
    fn drop(&mut self) {
        if self.clean {
            return;
        }
        let queue = self.queues.queues().remove(&self.key);
        for w in queue.unwrap_or_default() {
            w.answer(self.writer.stopped());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;
    use tokio::sync::Semaphore;

    /// The groups a [`Recorder`] wrote: (key, items).
    type Written = Vec<(&'static str, Vec<u32>)>;

    /// Records each group it writes; an item of 99 panics.
    /// Writes wait for a permit, so a test decides when a group finishes.
    #[derive(Clone)]
    struct Recorder {
        groups: Arc<Mutex<Written>>,
        gate: Arc<Semaphore>,
    }

    impl Recorder {
        fn new(open: bool) -> Self {
            Self {
                groups: Arc::default(),
                gate: Arc::new(Semaphore::new(if open {
                    Semaphore::MAX_PERMITS
                } else {
                    0
                })),
            }
        }

        fn groups(&self) -> Written {
            self.groups.lock().unwrap().clone()
        }
    }

    impl GroupWriter<&'static str, u32, Result<u32, String>> for Recorder {
        fn weight(&self, item: &u32) -> usize {
            *item as usize
        }

        async fn write(&self, key: &&'static str, group: Vec<Waiting<u32, Result<u32, String>>>) {
            self.gate.acquire().await.unwrap().forget();
            let items: Vec<u32> = group.iter().map(|w| w.item).collect();
            assert!(!items.contains(&99), "a writer bug");
            self.groups.lock().unwrap().push((key, items));
            for w in group {
                let n = w.item;
                w.answer(Ok(n * 10));
            }
        }

        fn stopped(&self) -> Result<u32, String> {
            Err("stopped".into())
        }
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// What queues while a group is written goes out together next, within
    /// the weight budget and in arrival order; each key has its own queue.
    #[tokio::test]
    async fn items_queued_during_a_write_go_out_together_within_the_budget() {
        let w = Recorder::new(false);
        let c = GroupCommitter::new(10);
        let first = c.submit(&w, "a", 1);
        settle().await;
        let rest: Vec<_> = [2, 3, 4, 5].map(|n| c.submit(&w, "a", n)).into();
        let other = c.submit(&w, "b", 7);
        w.gate.add_permits(10);
        assert_eq!(first.await.unwrap(), Ok(10));
        for (rx, n) in rest.into_iter().zip([2, 3, 4, 5]) {
            assert_eq!(rx.await.unwrap(), Ok(n * 10));
        }
        assert_eq!(other.await.unwrap(), Ok(70));
        let mut groups = w.groups();
        groups.sort();
        assert_eq!(
            groups,
            [
                ("a", vec![1]),
                ("a", vec![2, 3, 4]),
                ("a", vec![5]),
                ("b", vec![7])
            ]
        );
    }

    /// An item heavier than the whole budget still goes, alone.
    #[tokio::test]
    async fn an_item_over_the_budget_goes_alone() {
        let w = Recorder::new(true);
        let c = GroupCommitter::new(10);
        assert_eq!(c.submit(&w, "a", 25).await.unwrap(), Ok(250));
        assert_eq!(w.groups(), [("a", vec![25])]);
    }

    /// A writer that panics: its group's callers see their reply dropped,
    /// callers queued behind it get the writer's "stopped" answer, and the
    /// next submit finds a new committer rather than a queue nobody empties.
    #[tokio::test]
    async fn a_committer_that_panics_leaves_no_caller_waiting() {
        let w = Recorder::new(false);
        let c = GroupCommitter::new(1_000);
        let doomed = c.submit(&w, "a", 99);
        settle().await;
        let queued = c.submit(&w, "a", 1);
        w.gate.add_permits(1);
        let within = |rx| tokio::time::timeout(Duration::from_secs(10), rx);
        let doomed = within(doomed)
            .await
            .expect("the panicking group's caller hung");
        assert!(doomed.is_err(), "the panicking group's reply is dropped");
        let queued = within(queued).await.expect("a queued caller hung");
        assert_eq!(queued.unwrap(), Err("stopped".into()));
        w.gate.add_permits(1);
        let later = within(c.submit(&w, "a", 2))
            .await
            .expect("a later caller waited for a committer that is gone");
        assert_eq!(later.unwrap(), Ok(20));
    }

    /// A committer dropped before it first ran (its runtime shutting down)
    /// still answers its caller, and the key is free for a new one.
    #[test]
    fn a_committer_dropped_before_it_ran_answers_what_waits() {
        let w = Recorder::new(true);
        let c = GroupCommitter::new(10);
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let first = runtime();
        // Spawned in the runtime's context, never run: nothing drives it.
        let answer = {
            let _in = first.enter();
            c.submit(&w, "a", 1)
        };
        drop(first);
        let second = runtime();
        let within = |rx| tokio::time::timeout(Duration::from_secs(10), rx);
        let answer = second
            .block_on(async { within(answer).await })
            .expect("the caller of a dropped committer hung");
        assert_eq!(answer.unwrap(), Err("stopped".into()));
        let later = second
            .block_on(async { within(c.submit(&w, "a", 2)).await })
            .expect("a later caller waited for a committer that is gone");
        assert_eq!(later.unwrap(), Ok(20));
        assert_eq!(w.groups(), [("a", vec![2])]);
    }
}
