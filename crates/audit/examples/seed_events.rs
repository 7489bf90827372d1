//! Fills one tenant's audit log with valid, chained events, fast: the data
//! for measuring VerifyChain and the login history at scale.
//!
//! ```sh
//! cargo run --release -p keyholder-audit --example seed_events -- \
//!     --events 1000000 --database-url postgres://postgres@127.0.0.1:5432/kh_audit_bench
//! ```
//!
//! Migrates the database, then appends through the store's batch path (the
//! same code as `IngestEvents`: hash chain, idempotency, notification jobs,
//! the login read model) in transactions of `--batch` events. The log is a
//! support day repeated: a session is a sign-in, `--actions-per-session`
//! actions and a sign-out (every fifth one a revocation), and every
//! twentieth session is preceded by a refused attempt. Notification jobs
//! are marked done afterwards, so a service started on this database does
//! not e-mail a million times. Prints the tenant id and the rate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};
use clap::Parser;
use keyholder_audit::domain::event::{Actor, Incoming, Kind, NewEvent};
use keyholder_audit::store::Store;
use keyholder_kit::secret::Secret;
use sea_orm::ConnectionTrait;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Events to append.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Audit database (created tables are migrated first).
    #[arg(long, env = "KEYHOLDER_AUDIT__DATABASE_URL")]
    database_url: String,
    /// Tenant id; a fresh one when not given.
    #[arg(long)]
    tenant: Option<String>,
    /// Events per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// Actions between a sign-in and its sign-out.
    #[arg(long, default_value_t = 8)]
    actions_per_session: u64,
}

fn agent(n: u64) -> Actor {
    Actor {
        id: format!("agent-{}", n % 25),
        kind: "support_agent".into(),
        name: format!("Agent {}", n % 25),
        email: format!("agent{}@vendor.example", n % 25),
    }
}

/// The `i`th event of the synthetic day.
fn event(tenant: &str, i: u64, per_session: u64, start: chrono::DateTime<Utc>) -> NewEvent {
    let span = per_session + 2;
    let session_no = i / span;
    let step = i % span;
    let session = format!("sess-{session_no}");
    let who = agent(session_no);
    let mut e = NewEvent {
        event_id: format!("seed-{tenant}-{i}"),
        tenant_id: tenant.to_string(),
        kind: Kind::Action,
        occur_time: start + Duration::milliseconds(i64::try_from(i).unwrap_or(0) * 250),
        actor: None,
        agent: Some(who),
        granted_by: Some(Actor {
            id: "admin-1".into(),
            kind: "employee".into(),
            name: "Ada Admin".into(),
            email: "ada@customer.example".into(),
        }),
        access_request_id: format!("req-{session_no}"),
        grant_id: format!("grant-{session_no}"),
        session_id: session.clone(),
        ticket_ref: format!("HD-{}", 1000 + session_no),
        reason: "customer cannot import leads".into(),
        entity: String::new(),
        action: String::new(),
        allowed: true,
        expire_time: None,
        source: "broker".into(),
        attributes: BTreeMap::new(),
    };
    if step == 0 {
        e.kind = if session_no.is_multiple_of(20) {
            e.session_id = String::new();
            e.attributes.insert(
                "refusal".into(),
                "no approved request for this tenant".into(),
            );
            Kind::SignInRefused
        } else {
            Kind::SignIn
        };
        e.source = "identity".into();
    } else if step == span - 1 {
        e.kind = Kind::SignOut;
        let why = if session_no.is_multiple_of(5) {
            "revoked"
        } else {
            "signed out"
        };
        e.attributes.insert("end_reason".into(), why.into());
        e.source = "identity".into();
    } else {
        e.entity = "crm.deal".into();
        e.action = if step.is_multiple_of(3) {
            "change"
        } else {
            "read"
        }
        .into();
        e.allowed = !step.is_multiple_of(7);
    }
    e
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let db = keyholder_kit::db::open::<keyholder_audit::migrations::Migrator>(
        &Secret::new(args.database_url.clone()),
        true,
    )
    .await
    .expect("open and migrate the audit database");
    let store = Store::new(db.clone(), keyholder_kit::clock::system());
    let tenant = args
        .tenant
        .clone()
        .unwrap_or_else(|| format!("seed-{}", uuid::Uuid::new_v4()));
    let start = Utc::now() - Duration::days(30);
    let began = Instant::now();
    let mut i = 0;
    let mut last_report = Instant::now();
    while i < args.events {
        let n = (args.events - i).min(args.batch as u64);
        let events = (i..i + n)
            .map(|k| Incoming {
                event: event(&tenant, k, args.actions_per_session, start),
                invitation_token: None,
            })
            .collect();
        let out = store.ingest(events).await.expect("append");
        assert_eq!(u64::from(out.accepted + out.duplicates), n);
        i += n;
        if last_report.elapsed().as_secs() >= 5 {
            last_report = Instant::now();
            eprintln!(
                "{i} events, {:.0}/s",
                i as f64 / began.elapsed().as_secs_f64()
            );
        }
    }
    let secs = began.elapsed().as_secs_f64();
    db.execute_unprepared(&format!(
        "UPDATE audit_notification_jobs SET state = 'done' WHERE tenant_id = '{tenant}'"
    ))
    .await
    .expect("mark jobs done");
    println!("tenant {tenant}");
    println!(
        "appended {} events in {secs:.1} s: {:.0} events/s",
        args.events,
        args.events as f64 / secs
    );
}
