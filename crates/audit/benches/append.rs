//! Audit append throughput with the witness on and off, in one run on one
//! machine. Run by hand:
//!
//! ```sh
//! cargo bench -p keyholder-audit --bench append
//! ```
//!
//! Identity and audit run in-process (SQLite in a temp dir, the default
//! checkpoint policy: every 10 s or 1,000 events per tenant). Each mode
//! starts a fresh suite and appends through `IngestEvents` over gRPC:
//! batches of 100 events for one tenant, one call after another; then
//! the same from 32 concurrent callers (group commit; the chain is then
//! verified in full); then single-event calls from 8 tasks, one tenant each.
//! With `KEYHOLDER_TEST_DATABASE_URL` set, on PostgreSQL. "Witness off" signs the
//! same checkpoints into the database only (what audit did before).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyholder_audit::AuditOptions;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::{Suite, bearer};
use std::time::{Duration, Instant};

const BATCH_EVENTS: usize = 20_000;
const BATCH: usize = 100;
const SINGLE_TASKS: usize = 8;
const CONCURRENT_EVENTS: usize = 64_000;
const CONCURRENT_CALLERS: usize = 32;
const SINGLES_PER_TASK: usize = 1_250;

fn action(tenant: &str, i: usize) -> pb::Event {
    let now = chrono::Utc::now();
    pb::Event {
        event_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.into(),
        kind: pb::EventKind::Action as i32,
        occur_time: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: now.timestamp_subsec_nanos() as i32,
        }),
        source: "broker".into(),
        reason: format!("bench action {i}"),
        ..Default::default()
    }
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

struct Phase {
    events: usize,
    secs: f64,
    calls: Vec<Duration>,
}

impl Phase {
    fn print(&mut self, mode: &str, shape: &str, checkpoints: usize) {
        self.calls.sort();
        println!(
            "| {mode} | {shape} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {checkpoints} |",
            self.events as f64 / self.secs,
            percentile_ms(&self.calls, 0.5),
            percentile_ms(&self.calls, 0.99),
            percentile_ms(&self.calls, 1.0),
        );
    }
}

async fn run(witness_off: bool) {
    let mode = if witness_off {
        "witness off"
    } else {
        "witness on"
    };
    let mut suite = Suite::new().await;
    suite.start_identity().await;
    let audit = suite
        .start_audit_with(AuditOptions {
            manual_mail: true,
            witness_off,
            ..AuditOptions::default()
        })
        .await;
    let (_, producer) = suite
        .create_service_account("bench", &["audit.events.write"])
        .await;
    let mut tenants = Vec::new();
    for i in 0..=SINGLE_TASKS {
        tenants.push(
            suite
                .create_tenant(&format!("Bench {i}"), 5)
                .await
                .tenant_id,
        );
    }

    // Batches for one tenant.
    let client = suite.audit();
    let mut calls = Vec::new();
    let start = Instant::now();
    for b in 0..BATCH_EVENTS / BATCH {
        let events = (0..BATCH)
            .map(|i| action(&tenants[0], b * BATCH + i))
            .collect();
        let t = Instant::now();
        let r = client
            .clone()
            .ingest_events(bearer(pb::IngestEventsRequest { events }, &producer))
            .await
            .expect("ingest");
        assert_eq!(r.into_inner().accepted as usize, BATCH);
        calls.push(t.elapsed());
    }
    let cps = audit.store.checkpoints(&tenants[0]).await.unwrap().len();
    Phase {
        events: BATCH_EVENTS,
        secs: start.elapsed().as_secs_f64(),
        calls,
    }
    .print(mode, "batches of 100, 1 tenant", cps);

    // Batches for one tenant from many callers at once: what group commit
    // is for (concurrent calls share a transaction and a commit).
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT_CALLERS)
        .map(|k| {
            let client = client.clone();
            let producer = producer.clone();
            let tenant = tenants[0].clone();
            tokio::spawn(async move {
                let mut calls = Vec::new();
                for b in 0..CONCURRENT_EVENTS / BATCH / CONCURRENT_CALLERS {
                    let events = (0..BATCH)
                        .map(|i| action(&tenant, (k * 1_000_000) + b * BATCH + i))
                        .collect();
                    let t = Instant::now();
                    let r = client
                        .clone()
                        .ingest_events(bearer(pb::IngestEventsRequest { events }, &producer))
                        .await
                        .expect("ingest");
                    assert_eq!(r.into_inner().accepted as usize, BATCH);
                    calls.push(t.elapsed());
                }
                calls
            })
        })
        .collect();
    let mut calls = Vec::new();
    for t in tasks {
        calls.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let cps = audit.store.checkpoints(&tenants[0]).await.unwrap().len();
    Phase {
        events: CONCURRENT_EVENTS,
        secs,
        calls,
    }
    .print(
        mode,
        &format!("batches of 100, {CONCURRENT_CALLERS} callers at once, 1 tenant"),
        cps,
    );
    let v = audit.ledger.verify(&tenants[0], true).await.unwrap();
    assert!(v.broken.is_none(), "{:?}", v.broken);
    assert_eq!(v.checked as usize, BATCH_EVENTS + CONCURRENT_EVENTS);

    // Single events, concurrently, one tenant per task.
    let start = Instant::now();
    let tasks: Vec<_> = tenants[1..]
        .iter()
        .cloned()
        .map(|tenant| {
            let client = client.clone();
            let producer = producer.clone();
            tokio::spawn(async move {
                let mut calls = Vec::with_capacity(SINGLES_PER_TASK);
                for i in 0..SINGLES_PER_TASK {
                    let t = Instant::now();
                    client
                        .clone()
                        .ingest_events(bearer(
                            pb::IngestEventsRequest {
                                events: vec![action(&tenant, i)],
                            },
                            &producer,
                        ))
                        .await
                        .expect("ingest");
                    calls.push(t.elapsed());
                }
                calls
            })
        })
        .collect();
    let mut calls = Vec::new();
    for t in tasks {
        calls.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let mut cps = 0;
    for t in &tenants[1..] {
        cps += audit.store.checkpoints(t).await.unwrap().len();
    }
    Phase {
        events: SINGLE_TASKS * SINGLES_PER_TASK,
        secs,
        calls,
    }
    .print(mode, "single events, 8 tenants at once", cps);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| mode | shape | events/s | call p50 | call p99 | call max | checkpoints |");
    println!("|---|---|---|---|---|---|---|");
    rt.block_on(async {
        // Alternating, so drift in the machine's load hits both modes.
        for off in [false, true, false, true] {
            run(off).await;
        }
    });
}
