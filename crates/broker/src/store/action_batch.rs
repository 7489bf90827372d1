//! Group commit of reported actions (`keyholder_kit::group_commit`). A
//! reported action is one outbox row and nothing else, so concurrent
//! reports share a transaction: everything queued while one group commits
//! (up to [`MAX_GROUP`] rows) goes out next with multi-row inserts and one
//! commit. An answer is sent only after the commit returned, so "recorded"
//! means durable, as it did with one transaction per call.
//!
//! Why: on SQLite every transaction is several statements handed one by one
//! to the driver's worker thread, and with one core a third of the broker's
//! time went to those hand-offs (BENCHMARKS.md, ReportAction end to end).

use super::Store;
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::group_commit::{GroupCommitter, GroupWriter, Waiting};
use keyholder_kit::outbox::NewMessage;
use keyholder_proto::audit::v1::Event;
use prost::Message;

/// The most rows one commit writes; more wait for the next.
pub const MAX_GROUP: usize = 2_000;

/// One reported action's row, owned: the trace context is taken in the
/// caller's span.
pub(crate) struct ActionRow {
    event_id: String,
    tenant_id: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
    created_at: DateTime<Utc>,
}

impl ActionRow {
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

type Answer = Result<(), Error>;

/// The queue of rows waiting for the next commit (one key: every action
/// goes to the one outbox).
pub(crate) type ActionQueue = GroupCommitter<(), ActionRow, Answer>;

/// A fresh queue.
pub(crate) fn queue() -> ActionQueue {
    GroupCommitter::new(MAX_GROUP)
}

impl Store {
    /// Writes a reported action's event unless one with its id is there
    /// already (a retried report), sharing the transaction with concurrent
    /// reports; returns once it is committed.
    pub async fn record_action(&self, e: &Event, now: DateTime<Utc>) -> Result<(), Error> {
        let row = ActionRow {
            event_id: e.event_id.clone(),
            tenant_id: e.tenant_id.clone(),
            payload: e.encode_to_vec(),
            traceparent: keyholder_kit::telemetry::current_traceparent(),
            // Milliseconds, like every other row broker writes to the
            // outbox (`outbox::push` takes its time in ms, which the
            // webhook tables still store).
            created_at: DateTime::from_timestamp_millis(now.timestamp_millis())
                .unwrap_or(DateTime::UNIX_EPOCH),
        };
        self.actions
            .submit(self, (), row)
            .await
            .map_err(|_| Error::Internal("the action writer ended without an answer".into()))?
    }

    async fn write_rows(&self, rows: &[NewMessage<'_>]) -> Result<(), Failed> {
        let txn = self.begin().await.map_err(Failed::Unreachable)?;
        // On a refused insert the transaction is dropped: rolled back.
        super::outbox::OUTBOX
            .enqueue_many_once(&txn, rows)
            .await
            .map_err(|e| Failed::Refused(e.into()))?;
        self.commit(txn, &super::Ended::default())
            .await
            .map_err(Failed::Unreachable)
    }
}

impl GroupWriter<(), ActionRow, Answer> for Store {
    fn weight(&self, _: &ActionRow) -> usize {
        1
    }

    /// Commits one group and answers its callers. When the database refuses
    /// the group's insert, each row is retried in its own transaction, so
    /// one row it refuses fails only its own caller; when the database
    /// cannot be reached at all (begin or commit failed), the whole group
    /// fails at once rather than waiting out the failure once per row.
    async fn write(&self, _: &(), group: Vec<Waiting<ActionRow, Answer>>) {
        let rows: Vec<NewMessage<'_>> = group.iter().map(|w| w.item.row()).collect();
        let result = self.write_rows(&rows).await;
        drop(rows);
        match result {
            Ok(()) => {
                for w in group {
                    w.answer(Ok(()));
                }
            }
            Err(Failed::Refused(e)) if group.len() > 1 => {
                tracing::debug!(error = %e, rows = group.len(), "group commit of actions refused; writing them one by one");
                let mut unreachable: Option<Error> = None;
                for w in group {
                    let r = match &unreachable {
                        Some(e) => Err(again(e)),
                        None => match self.write_rows(&[w.item.row()]).await {
                            Ok(()) => Ok(()),
                            Err(Failed::Refused(e)) => Err(e),
                            Err(Failed::Unreachable(e)) => {
                                let mine = again(&e);
                                unreachable = Some(e);
                                Err(mine)
                            }
                        },
                    };
                    w.answer(r);
                }
            }
            Err(Failed::Refused(e) | Failed::Unreachable(e)) => fail_all(group, e),
        }
    }

    fn stopped(&self) -> Answer {
        Err(Error::Internal("the action writer stopped".into()))
    }
}

/// How a group's write failed.
enum Failed {
    /// The insert was refused: some row may be at fault.
    Refused(Error),
    /// The transaction could not begin or commit: no row is at fault.
    Unreachable(Error),
}

/// Fails every caller of `group` with `e`: the last gets `e` itself (a
/// lone caller keeps its exact error), the others a copy.
fn fail_all(mut group: Vec<Waiting<ActionRow, Answer>>, e: Error) {
    let last = group.pop();
    for w in group {
        w.answer(Err(again(&e)));
    }
    if let Some(w) = last {
        w.answer(Err(e));
    }
}

/// The same failure for another caller of the group (errors do not clone).
fn again(e: &Error) -> Error {
    match e {
        Error::Db(d) => Error::Db(sea_orm::DbErr::Custom(d.to_string())),
        other => Error::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cache::AccessCache;
    use keyholder_kit::secret::Secret;
    use sea_orm::ConnectionTrait;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::Notify;

    fn event(id: &str) -> Event {
        Event {
            event_id: id.into(),
            tenant_id: "t1".into(),
            ..Event::default()
        }
    }

    /// A migrated SQLite file of its own (the directory lives as long as
    /// the returned guard).
    async fn scratch_db() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let db = keyholder_kit::db::open::<crate::migrations::Migrator>(&Secret::new(url), true)
            .await
            .unwrap();
        (dir, db)
    }

    /// Concurrent reports on a database that cannot be reached: every
    /// caller gets an error (none waits forever), and a later report finds
    /// a new committer rather than a queue nobody empties.
    #[tokio::test]
    async fn every_caller_hears_back_when_the_database_is_gone() {
        let (_dir, db) = scratch_db().await;
        let cache = Arc::new(AccessCache::new(Duration::ZERO, 10));
        let store = Store::new(db.clone(), cache, Arc::new(Notify::new()));
        store
            .record_action(&event("e-0"), chrono::Utc::now())
            .await
            .unwrap();
        db.close_by_ref().await.unwrap();
        let calls = (1..=40).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_action(&event(&format!("e-{i}")), chrono::Utc::now())
                    .await
            })
        });
        for c in calls.collect::<Vec<_>>() {
            let r = tokio::time::timeout(Duration::from_secs(60), c)
                .await
                .expect("a caller waited a minute for its answer")
                .unwrap();
            assert!(matches!(r, Err(Error::Db(_))), "{r:?}");
        }
        let again = store
            .record_action(&event("e-41"), chrono::Utc::now())
            .await;
        assert!(matches!(again, Err(Error::Db(_))), "{again:?}");
    }

    /// A group whose insert the database refuses because of one row: the
    /// rows are written one by one, so only that row's caller fails and the
    /// others are recorded.
    #[tokio::test]
    async fn one_refused_row_fails_only_its_own_caller() {
        let (_dir, db) = scratch_db().await;
        let table = super::super::outbox::OUTBOX.table();
        db.execute_unprepared(&format!(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON {table} WHEN NEW.event_id = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ))
        .await
        .unwrap();
        let cache = Arc::new(AccessCache::new(Duration::ZERO, 10));
        let store = Store::new(db.clone(), cache, Arc::new(Notify::new()));
        let now = chrono::Utc::now();
        // One thread: all three are queued before the committer first runs,
        // so they go in one group.
        let (ea, ebad, eb) = (event("a"), event("bad"), event("b"));
        let (a, bad, b) = tokio::join!(
            store.record_action(&ea, now),
            store.record_action(&ebad, now),
            store.record_action(&eb, now),
        );
        assert!(matches!(bad, Err(Error::Db(_))), "{bad:?}");
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
        let stored: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT event_id FROM {table} ORDER BY seq"),
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        assert_eq!(stored, ["a", "b"]);
    }
}
