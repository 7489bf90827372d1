#![allow(clippy::unwrap_used, clippy::panic)]
use super::*;
use crate::clock::ManualClock;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Idem(#[from] IdempotencyError),
    #[error("refused")]
    Refused,
}

type Answer = prost_types::Timestamp;

async fn ledger() -> (Ledger, Arc<ManualClock>) {
    let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
    db.execute(&create_table("t_request_ids")).await.unwrap();
    db.execute(&create_index("t_request_ids")).await.unwrap();
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap());
    (Ledger::new(db, "t_request_ids", clock.clone()), clock)
}

fn key(request_id: &str) -> Key<'_> {
    Key {
        caller: "u1",
        rpc: "Grant",
        request_id,
    }
}

async fn act(
    l: &Ledger,
    request_id: &str,
    seconds: i64,
    acted: &AtomicUsize,
) -> Result<Answer, TestError> {
    l.run(
        key(request_id),
        |m: &Answer| prost::Message::encode_to_vec(m),
        || async {
            acted.fetch_add(1, Ordering::SeqCst);
            Ok(Answer { seconds, nanos: 0 })
        },
    )
    .await
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_without_acting() {
    let (l, _) = ledger().await;
    let acted = AtomicUsize::new(0);
    let first = act(&l, " r-1 ", 7, &acted).await.unwrap();
    let again = act(&l, "r-1", 99, &acted).await.unwrap();
    assert_eq!((first.seconds, again.seconds), (7, 7));
    assert_eq!(acted.load(Ordering::SeqCst), 1);
    // Another id, or no id, acts.
    assert_eq!(act(&l, "r-2", 8, &acted).await.unwrap().seconds, 8);
    assert_eq!(act(&l, "", 9, &acted).await.unwrap().seconds, 9);
    assert_eq!(act(&l, "", 10, &acted).await.unwrap().seconds, 10);
    assert_eq!(acted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_stored_form_can_leave_a_secret_out() {
    let (l, _) = ledger().await;
    let strip = |m: &Answer| {
        prost::Message::encode_to_vec(&Answer {
            seconds: m.seconds,
            nanos: 0,
        })
    };
    let run = || {
        l.run(key("s"), strip, || async {
            Ok::<_, TestError>(Answer {
                seconds: 1,
                nanos: 42,
            })
        })
    };
    assert_eq!(run().await.unwrap().nanos, 42);
    assert_eq!(run().await.unwrap().nanos, 0);
}

#[tokio::test]
async fn a_retry_during_the_first_call_is_aborted_not_acted() {
    let (l, _) = ledger().await;
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let l2 = l.clone();
    let first = tokio::spawn(async move {
        l2.run(
            key("slow"),
            |m: &Answer| prost::Message::encode_to_vec(m),
            || async {
                let _ = entered_tx.send(());
                let _ = go_rx.await;
                Ok::<_, TestError>(Answer {
                    seconds: 1,
                    nanos: 0,
                })
            },
        )
        .await
    });
    entered_rx.await.unwrap();
    let acted = AtomicUsize::new(0);
    let during = act(&l, "slow", 2, &acted).await;
    assert!(matches!(
        during,
        Err(TestError::Idem(IdempotencyError::InProgress))
    ));
    assert_eq!(acted.load(Ordering::SeqCst), 0);
    go_tx.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap().seconds, 1);
    assert_eq!(act(&l, "slow", 3, &acted).await.unwrap().seconds, 1);
    assert_eq!(acted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failed_call_releases_its_claim() {
    let (l, _) = ledger().await;
    let failed: Result<Answer, TestError> = l
        .run(
            key("f"),
            |m: &Answer| prost::Message::encode_to_vec(m),
            || async { Err(TestError::Refused) },
        )
        .await;
    assert!(matches!(failed, Err(TestError::Refused)));
    let acted = AtomicUsize::new(0);
    assert_eq!(act(&l, "f", 5, &acted).await.unwrap().seconds, 5);
    assert_eq!(acted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_claim_left_by_a_crash_is_taken_over_after_its_lease() {
    let (l, clock) = ledger().await;
    // A claim nobody answers or releases: the process died mid-call.
    assert!(matches!(l.claim(key("c")).await, Ok(Claim::Ours)));
    let acted = AtomicUsize::new(0);
    assert!(matches!(
        act(&l, "c", 1, &acted).await,
        Err(TestError::Idem(IdempotencyError::InProgress))
    ));
    clock.advance(DEFAULT_LEASE + chrono::Duration::seconds(1));
    assert_eq!(act(&l, "c", 2, &acted).await.unwrap().seconds, 2);
    assert_eq!(acted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_ids_are_refused_and_old_answers_pruned() {
    let (l, clock) = ledger().await;
    let acted = AtomicUsize::new(0);
    let long = "x".repeat(300);
    let e = act(&l, &long, 1, &acted).await.unwrap_err();
    match e {
        TestError::Idem(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidArgument);
            assert_eq!(e.field().as_deref(), Some("request_id"));
        }
        TestError::Refused => panic!("expected a refused request id"),
    }
    assert!(act(&l, "a\nb", 1, &acted).await.is_err());
    assert_eq!(acted.load(Ordering::SeqCst), 0);
    act(&l, "old", 1, &acted).await.unwrap();
    clock.advance(chrono::Duration::hours(25));
    act(&l, "new", 2, &acted).await.unwrap();
    assert_eq!(l.prune(DEFAULT_RETENTION).await.unwrap(), 1);
    // Forgotten: the old id acts again.
    assert_eq!(act(&l, "old", 3, &acted).await.unwrap().seconds, 3);
}

#[tokio::test]
async fn another_caller_with_the_same_request_id_acts_for_itself() {
    let (l, _) = ledger().await;
    let acted = AtomicUsize::new(0);
    assert_eq!(act(&l, "r-1", 7, &acted).await.unwrap().seconds, 7);
    let other: Answer = l
        .run(
            Key {
                caller: "u2",
                rpc: "Grant",
                request_id: "r-1",
            },
            |m: &Answer| prost::Message::encode_to_vec(m),
            || async {
                acted.fetch_add(1, Ordering::SeqCst);
                Ok::<_, TestError>(Answer {
                    seconds: 8,
                    nanos: 0,
                })
            },
        )
        .await
        .unwrap();
    assert_eq!(other.seconds, 8);
    assert_eq!(acted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_stored_answer_that_no_longer_decodes_is_an_internal_error() {
    let (l, _) = ledger().await;
    let acted = AtomicUsize::new(0);
    let run = || {
        l.run(
            key("r-1"),
            // Not a protobuf message: a truncated varint field.
            |_: &Answer| vec![0x08, 0xff],
            || async {
                acted.fetch_add(1, Ordering::SeqCst);
                Ok::<_, TestError>(Answer {
                    seconds: 7,
                    nanos: 0,
                })
            },
        )
    };
    assert_eq!(run().await.unwrap().seconds, 7);
    let Err(TestError::Idem(e)) = run().await else {
        panic!("expected the stored answer to be unreadable");
    };
    assert!(matches!(e, IdempotencyError::Unreadable(_)), "{e:?}");
    assert_eq!(e.code(), ErrorCode::Internal);
    assert_eq!(acted.load(Ordering::SeqCst), 1);
}
