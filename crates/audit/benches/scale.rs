//! VerifyChain and the login history at scale, on a tenant filled by the
//! `seed_events` example. Run by hand:
//!
//! ```sh
//! cargo run --release -p keyholder-audit --example seed_events -- \
//!     --events 1000000 --database-url "$URL"        # prints the tenant id
//! KEYHOLDER_BENCH_DATABASE_URL="$URL" KEYHOLDER_BENCH_TENANT=<id> \
//!     cargo bench -p keyholder-audit --bench scale
//! ```
//!
//! Prints:
//! - the full chain verification (the store's streaming scan and the
//!   verifier, as `VerifyChain` with `full` runs them): events/s of wall
//!   time and events per CPU-second of this process (the verifier's core;
//!   the database server works on the other core);
//! - the verifier alone over rows already in memory (its CPU floor);
//! - login history pages of 50, newest first, the way `ListLoginHistory`
//!   reads them (keyset, from the read model): the first page, a walk 200
//!   pages deep, one agent's pages; then an open-loop run at 100 requests/s
//!   for 10 s over 8 concurrent tasks (the pool must not run dry).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyholder_audit::domain::chain::{ChainRow, Verifier};
use keyholder_audit::store::Store;
use keyholder_audit::store::sign_ins::LoginQuery;
use keyholder_kit::secret::Secret;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// This process's CPU time (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn report(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
}

async fn verify_full(store: &Store, tenant: &str) {
    for run in 1..=3 {
        let mut v = Verifier::new();
        let mut broken = None;
        let (t, c) = (Instant::now(), cpu_time());
        store
            .scan_chain(tenant, 0, i64::MAX, |row| match v.check_ref(&row) {
                Ok(()) => ControlFlow::Continue(()),
                Err(b) => {
                    broken = Some(b);
                    ControlFlow::Break(())
                }
            })
            .await
            .unwrap();
        let (wall, cpu) = (t.elapsed(), cpu_time() - c);
        assert!(broken.is_none(), "{broken:?}");
        let n = v.checked() as f64;
        println!(
            "| full verification, run {run} | {} events | {:.2} s | {:.0} events/s | {:.0} events per CPU-second |",
            v.checked(),
            wall.as_secs_f64(),
            n / wall.as_secs_f64(),
            n / cpu.as_secs_f64().max(1e-9)
        );
    }
    // The verifier alone: the first 200k rows, already in memory.
    let mut rows: Vec<ChainRow> = Vec::new();
    let mut after = 0;
    while rows.len() < 200_000 {
        let page = store.chain_rows(tenant, after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.sequence;
        rows.extend(page);
    }
    let t = Instant::now();
    let mut v = Verifier::new();
    for r in &rows {
        v.check(r).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "| verifier alone, in memory | {} events | {secs:.2} s | {:.0} events/s (one core) | |",
        rows.len(),
        rows.len() as f64 / secs
    );
}

async fn history(store: &Store, tenant: &str) {
    println!();
    println!("| login history, pages of 50 | requests | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    let all = LoginQuery::default();
    let mut lat = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let page = store.login_page(tenant, &all, None, 50).await.unwrap();
        lat.push(t.elapsed());
        assert_eq!(page.len(), 51);
    }
    report("first page", lat);
    let mut lat = Vec::new();
    for _ in 0..3 {
        let mut after = None;
        for _ in 0..200 {
            let t = Instant::now();
            let page = store.login_page(tenant, &all, after, 50).await.unwrap();
            lat.push(t.elapsed());
            after = page.get(49).map(|(c, _)| *c);
            if after.is_none() {
                break;
            }
        }
    }
    report("walk 200 pages deep (keyset)", lat);
    let one = LoginQuery {
        agent_id: "agent-7".into(),
        exclude_refused: true,
        ..LoginQuery::default()
    };
    let mut lat = Vec::new();
    let mut after = None;
    for _ in 0..300 {
        let t = Instant::now();
        let page = store.login_page(tenant, &one, after, 50).await.unwrap();
        lat.push(t.elapsed());
        // At the end of the agent's history, start again from the top.
        after = page.get(49).map(|(c, _)| *c);
    }
    report("one agent, signed in only, 300 pages", lat);

    // Open loop: 100 requests/s for 10 s, each at its scheduled time, each
    // a random depth of the first 20 pages; latency from the schedule.
    let store = store.clone();
    let tenant = tenant.to_string();
    let begin = Instant::now();
    let tasks: Vec<_> = (0..8u64)
        .map(|k| {
            let store = store.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                for i in 0..125u64 {
                    let due = begin + Duration::from_millis((i * 8 + k) * 10);
                    tokio::time::sleep_until(due.into()).await;
                    let mut after = None;
                    let depth = (i * 7 + k) % 3;
                    for _ in 0..=depth {
                        match store
                            .login_page(&tenant, &LoginQuery::default(), after, 50)
                            .await
                        {
                            Ok(p) => after = p.get(49).map(|(c, _)| *c),
                            Err(_) => errors += 1,
                        }
                    }
                    lat.push(due.elapsed());
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    report(
        &format!("100 requests/s open loop, 10 s (1-3 pages each), errors: {errors}"),
        lat,
    );
}

fn main() {
    let url = std::env::var("KEYHOLDER_BENCH_DATABASE_URL")
        .expect("KEYHOLDER_BENCH_DATABASE_URL (a database seeded by the seed_events example)");
    let tenant = std::env::var("KEYHOLDER_BENCH_TENANT").expect("KEYHOLDER_BENCH_TENANT");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = keyholder_kit::db::open::<keyholder_audit::migrations::Migrator>(
            &Secret::new(url),
            true,
        )
        .await
        .unwrap();
        let store = Store::new(db, keyholder_kit::clock::system());
        println!("| measure | events | wall | rate | per CPU-second |");
        println!("|---|---|---|---|---|");
        verify_full(&store, &tenant).await;
        history(&store, &tenant).await;
    });
}
