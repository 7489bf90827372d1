//! CheckAccess against a bare RPC (gRPC health `Check` on the same server: same
//! tonic stack, no work), in plaintext and over mutual TLS, in one run on
//! one machine. Run by hand:
//!
//! ```sh
//! cargo bench -p keyholder-broker --bench check_access
//! ```
//!
//! Identity and broker run in-process on their own runtime (threads named
//! `kh-server`, SQLite in a temp dir), twice: once plaintext, once with
//! mutual TLS on every hop (test certificates from the testkit, ECDSA P-256,
//! TLS 1.3); the load generator runs on another
//! (`kh-client`), over several HTTP/2 connections. Two phases per RPC: a fixed
//! rate of 10k requests/s (open loop: latency counted from the scheduled send
//! time) and maximum throughput (closed loop). Server CPU time is read from
//! /proc per thread, to report requests per server core-second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyholder_kit::tls::TlsConfig;
use keyholder_proto::broker::v1 as pb;
use keyholder_proto::broker::v1::broker_service_client::BrokerServiceClient;
use keyholder_testkit::tls::TestPki;
use keyholder_testkit::{Suite, bearer, channel_to};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const RATE: u64 = 10_000;
const FIXED_SECS: u64 = 5;
const MAX_SECS: u64 = 5;
const CONNECTIONS: usize = 8;
const CONCURRENCY: usize = 64;

#[derive(Clone, Copy, PartialEq)]
enum Rpc {
    Echo,
    Check,
}

struct Target {
    addr: SocketAddr,
    /// How clients connect: the suite's own `[tls]`.
    tls: TlsConfig,
    backend: String,
    session: String,
    tenant: String,
}

struct Stats {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    throughput: f64,
    errors: usize,
    server_cpu: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// CPU seconds used so far by threads whose name starts with `prefix`.
fn cpu_of(prefix: &str) -> f64 {
    let mut ticks = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // After the comm: state is field 3, utime 14, stime 15 (1-based overall).
            ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            ticks += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    ticks as f64 / 100.0
}

/// One channel per connection (each its own TLS session when TLS is on).
fn channels(t: &Target) -> Vec<Channel> {
    (0..CONNECTIONS)
        .map(|_| channel_to(t.addr, &t.tls))
        .collect()
}

async fn call(rpc: Rpc, ch: Channel, t: &Target) -> bool {
    match rpc {
        Rpc::Echo => HealthClient::new(ch)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .is_ok(),
        Rpc::Check => BrokerServiceClient::new(ch)
            .check_access(bearer(
                pb::CheckAccessRequest {
                    session_token: t.session.clone(),
                    tenant_id: t.tenant.clone(),
                    entity: "crm.deal".into(),
                    action: "read".into(),
                    record: false,
                },
                &t.backend,
            ))
            .await
            .is_ok_and(|r| r.into_inner().allowed),
    }
}

fn summarize(mut lat: Vec<Duration>, elapsed: f64, errors: usize, server_cpu: f64) -> Stats {
    lat.sort_unstable();
    Stats {
        p50: percentile(&lat, 0.50),
        p90: percentile(&lat, 0.90),
        p99: percentile(&lat, 0.99),
        max: lat.last().map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0),
        throughput: lat.len() as f64 / elapsed,
        errors,
        server_cpu,
    }
}

async fn fixed_rate(rpc: Rpc, t: Arc<Target>) -> Stats {
    let chans = channels(&t);
    let total = RATE * FIXED_SECS;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cpu0 = cpu_of("kh-server");
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / RATE);
        tokio::time::sleep_until(due.into()).await;
        let (ch, t, tx) = (
            chans[i as usize % CONNECTIONS].clone(),
            t.clone(),
            tx.clone(),
        );
        tokio::spawn(async move {
            let ok = call(rpc, ch, &t).await;
            let _ = tx.send((due.elapsed(), ok));
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(total as usize);
    let mut errors = 0;
    while let Some((d, ok)) = rx.recv().await {
        if ok { lat.push(d) } else { errors += 1 }
    }
    let elapsed = start.elapsed().as_secs_f64();
    summarize(lat, elapsed, errors, cpu_of("kh-server") - cpu0)
}

async fn max_throughput(rpc: Rpc, t: Arc<Target>) -> Stats {
    let chans = channels(&t);
    let cpu0 = cpu_of("kh-server");
    let start = Instant::now();
    let stop = start + Duration::from_secs(MAX_SECS);
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let (ch, t) = (chans[w % CONNECTIONS].clone(), t.clone());
        workers.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < stop {
                let s = Instant::now();
                if call(rpc, ch.clone(), &t).await {
                    lat.push(s.elapsed())
                } else {
                    errors += 1
                }
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    summarize(lat, elapsed, errors, cpu_of("kh-server") - cpu0)
}

fn print(name: &str, s: &Stats) {
    let per_core = if s.server_cpu > 0.0 {
        s.throughput * (MAX_SECS as f64) / s.server_cpu
    } else {
        0.0
    };
    println!(
        "{name:<28} p50 {:>8.0} µs  p90 {:>8.0} µs  p99 {:>8.0} µs  max {:>8.0} µs  {:>8.0} req/s  errors {}  server cpu {:.2} s (≈{:.0} req per server core-second)",
        s.p50, s.p90, s.p99, s.max, s.throughput, s.errors, s.server_cpu, per_core
    );
}

async fn setup(suite: &mut Suite) -> Target {
    suite.start_identity().await;
    suite.start_broker().await;
    let tenant = suite.create_tenant("Bench Co", 10).await;
    let agent = suite.create_agent("Bench Agent").await;
    let (_, backend) = suite
        .create_service_account("bench-backend", &["broker.check_access"])
        .await;
    let mut b = suite.broker();
    b.update_support_access_settings(bearer(
        pb::UpdateSupportAccessSettingsRequest {
            tenant_id: tenant.tenant_id.clone(),
            mode: Some(pb::SupportAccessMode::OnRequest as i32),
            ..Default::default()
        },
        &tenant.admin_token,
    ))
    .await
    .unwrap();
    let req = b
        .create_access_request(bearer(
            pb::CreateAccessRequestRequest {
                tenant_id: tenant.tenant_id.clone(),
                ticket_ref: "BENCH-1".into(),
                reason: "benchmarking the hot path".into(),
                scope: Some(pb::Scope {
                    read_only: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &agent.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    let grant = b
        .approve_access_request(bearer(
            pb::ApproveAccessRequestRequest {
                access_request_id: req.access_request_id,
                ..Default::default()
            },
            &tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    let credential = b
        .issue_grant_credential(bearer(
            pb::IssueGrantCredentialRequest {
                grant_id: grant.grant_id,
            },
            &agent.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential;
    let session = b
        .sign_in_to_tenant(bearer(
            pb::SignInToTenantRequest {
                tenant_id: tenant.tenant_id.clone(),
                credential,
                reason: "benchmarking the hot path".into(),
                ..Default::default()
            },
            &agent.token,
        ))
        .await
        .unwrap()
        .into_inner();
    Target {
        addr: suite.config.broker.listen,
        tls: suite.config.tls.clone(),
        backend,
        session: session.access_token,
        tenant: tenant.tenant_id,
    }
}

fn main() {
    let server_threads: usize = std::env::var("BENCH_SERVER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads)
        .thread_name("kh-server")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kh-client")
        .enable_all()
        .build()
        .unwrap();
    let pki = TestPki::new("bench");
    let mut plain_suite = server_rt.block_on(Suite::new());
    plain_suite.config.tls = TlsConfig::default();
    let plain = Arc::new(server_rt.block_on(setup(&mut plain_suite)));
    let mut tls_suite = server_rt.block_on(Suite::new());
    tls_suite.config.tls = pki.config(true);
    // Looked at every 10 s, as deployed, not at every connection.
    tls_suite.config.tls.reload_secs = 10;
    let tls = Arc::new(server_rt.block_on(setup(&mut tls_suite)));
    println!(
        "server runtime: {server_threads} worker thread(s); client: 2; {CONNECTIONS} connections; CPUs: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    client_rt.block_on(async {
        let mut results = Vec::new();
        for (name, target) in [("plaintext", &plain), ("mutual TLS", &tls)] {
            // Warm up: connections (and handshakes), caches, key set.
            fixed_rate(Rpc::Check, (*target).clone()).await;
            let echo_fixed = fixed_rate(Rpc::Echo, (*target).clone()).await;
            let check_fixed = fixed_rate(Rpc::Check, (*target).clone()).await;
            let echo_max = max_throughput(Rpc::Echo, (*target).clone()).await;
            let check_max = max_throughput(Rpc::Check, (*target).clone()).await;
            println!("\n==== {name} ====");
            println!("== fixed rate {RATE} req/s for {FIXED_SECS} s (open loop) ==");
            print("echo (health Check)", &echo_fixed);
            print("CheckAccess", &check_fixed);
            println!(
                "ratio CheckAccess/echo: p50 {:.2}x  p90 {:.2}x  p99 {:.2}x",
                check_fixed.p50 / echo_fixed.p50,
                check_fixed.p90 / echo_fixed.p90,
                check_fixed.p99 / echo_fixed.p99
            );
            println!("== max throughput, {CONCURRENCY} in flight over {CONNECTIONS} connections, {MAX_SECS} s ==");
            print("echo (health Check)", &echo_max);
            print("CheckAccess", &check_max);
            println!(
                "ratio CheckAccess/echo: throughput {:.2}x  p50 {:.2}x  p99 {:.2}x",
                check_max.throughput / echo_max.throughput,
                check_max.p50 / echo_max.p50,
                check_max.p99 / echo_max.p99
            );
            results.push((check_fixed, check_max));
        }
        let (plain, tls) = (&results[0], &results[1]);
        println!("\n==== CheckAccess, mutual TLS / plaintext ====");
        println!(
            "fixed rate: p50 {:.2}x  p90 {:.2}x  p99 {:.2}x  server cpu {:.2}x",
            tls.0.p50 / plain.0.p50,
            tls.0.p90 / plain.0.p90,
            tls.0.p99 / plain.0.p99,
            tls.0.server_cpu / plain.0.server_cpu
        );
        println!(
            "max throughput: throughput {:.2}x  p50 {:.2}x  p99 {:.2}x",
            tls.1.throughput / plain.1.throughput,
            tls.1.p50 / plain.1.p50,
            tls.1.p99 / plain.1.p99
        );
    });
    drop(plain_suite);
    drop(tls_suite);
}
