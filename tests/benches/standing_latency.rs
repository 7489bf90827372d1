//! How long a change in a person's standing takes to reach broker and audit:
//! from sending `SetAdmin(false)` or `DeactivateUser` to identity until the
//! first refusal of the person's old token at the broker and at audit. Run by
//! hand:
//!
//! ```sh
//! cargo bench -p keyholder-e2e --bench standing_latency
//! # BENCH_SAMPLES=200 for more samples per kind (default 100)
//! ```
//!
//! All three services run in-process (release build, SQLite in a temp dir);
//! each sample makes a fresh admin, checks its token works at both services,
//! lowers it, then probes broker (`GetSupportAccessSettings`) and audit
//! (`ListEvents`) back to back until each refuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::{Suite, TenantFixture, bearer};
use std::time::{Duration, Instant};
use tonic::Code;

#[derive(Clone, Copy)]
enum Lowering {
    Demote,
    Deactivate,
}

impl Lowering {
    fn name(self) -> &'static str {
        match self {
            Self::Demote => "SetAdmin(false)",
            Self::Deactivate => "DeactivateUser",
        }
    }
}

async fn broker_code(s: &Suite, tenant: &str, token: &str) -> Code {
    match s
        .broker()
        .get_support_access_settings(bearer(
            broker::GetSupportAccessSettingsRequest {
                tenant_id: tenant.to_string(),
            },
            token,
        ))
        .await
    {
        Ok(_) => Code::Ok,
        Err(e) => e.code(),
    }
}

async fn audit_code(s: &Suite, tenant: &str, token: &str) -> Code {
    match s
        .audit()
        .list_events(bearer(
            audit::ListEventsRequest {
                tenant_id: tenant.to_string(),
                page_size: 1,
                ..Default::default()
            },
            token,
        ))
        .await
    {
        Ok(_) => Code::Ok,
        Err(e) => e.code(),
    }
}

/// Probes until the first refusal; the time since `t0`.
async fn until_refused<F, Fut>(t0: Instant, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Code>,
{
    let deadline = t0 + Duration::from_secs(10);
    loop {
        let code = probe().await;
        if code == Code::Unauthenticated {
            return t0.elapsed();
        }
        assert_eq!(code, Code::Ok, "unexpected answer while probing");
        assert!(Instant::now() < deadline, "no refusal within 10 s");
    }
}

async fn sample(s: &Suite, t: &TenantFixture, n: usize, how: Lowering) -> (Duration, Duration) {
    let admin = s
        .create_employee(t, &format!("admin{n}@bench.example"), true)
        .await;
    assert_eq!(broker_code(s, &t.tenant_id, &admin.token).await, Code::Ok);
    assert_eq!(audit_code(s, &t.tenant_id, &admin.token).await, Code::Ok);
    let t0 = Instant::now();
    match how {
        Lowering::Demote => {
            s.identity()
                .set_admin(bearer(
                    identity::SetAdminRequest {
                        request_id: uuid::Uuid::new_v4().to_string(),
                        user_id: admin.user_id.clone(),
                        admin: false,
                    },
                    &t.admin_token,
                ))
                .await
                .expect("demote");
        }
        Lowering::Deactivate => {
            s.identity()
                .deactivate_user(bearer(
                    identity::DeactivateUserRequest {
                        request_id: uuid::Uuid::new_v4().to_string(),
                        user_id: admin.user_id.clone(),
                    },
                    &t.admin_token,
                ))
                .await
                .expect("deactivate");
        }
    }
    let tenant = t.tenant_id.as_str();
    let token = admin.token.as_str();
    tokio::join!(
        until_refused(t0, || broker_code(s, tenant, token)),
        until_refused(t0, || audit_code(s, tenant, token)),
    )
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let pct = |p: f64| {
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i].as_secs_f64() * 1e3
    };
    println!(
        "{label:<34} n={:<4} p50={:>7.2} ms  p90={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        v.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
}

fn main() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut s = Suite::new().await;
        s.start_identity().await;
        s.start_audit().await;
        s.start_broker().await;
        for how in [Lowering::Demote, Lowering::Deactivate] {
            let mut at_broker = Vec::new();
            let mut at_audit = Vec::new();
            let mut done = 0;
            while done < samples {
                // A tenant per 40 samples keeps within the seat limit.
                let t = s
                    .create_tenant(&format!("Bench {} {done}", how.name()), 50)
                    .await;
                for _ in 0..40.min(samples - done) {
                    let (b, a) = sample(&s, &t, done, how).await;
                    at_broker.push(b);
                    at_audit.push(a);
                    done += 1;
                }
            }
            summary(&format!("{} -> broker refuses", how.name()), at_broker);
            summary(&format!("{} -> audit refuses", how.name()), at_audit);
        }
    });
}
