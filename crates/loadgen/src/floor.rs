//! `keyholder-load floor`: Keyholder's CheckAccess against the bare echo
//! floor in one run. Identity, broker and audit run as three `keyholder`
//! processes and echo as a fourth, all pinned to the same core with one
//! worker thread each; the generator runs pinned to another core. For every
//! repetition and rate it measures echo, then CheckAccess, with the same
//! request bytes and the same `authorization` header, so the ratio is of two
//! servers, not of two harnesses. Then offered load beyond capacity (what
//! each sustains), a burst of sign-ins, and each process's memory.

use crate::open_loop::{self, Pacing, Plan, Report};
use anyhow::Context;
use bytes::Bytes;
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The run's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct FloorArgs {
    /// The `keyholder` binary to measure (build it with --release).
    #[arg(long, default_value = "target/release/keyholder")]
    pub keyholder: PathBuf,
    /// Offered rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "5000,10000")]
    pub rates: Vec<f64>,
    /// Seconds recorded per run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up per run (not recorded).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Repetitions of the whole rate sweep.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// The cores the servers share, as `taskset -c` takes them (`0`, `0,1`):
    /// one core for the comparison with echo; both to see what the suite
    /// does with the whole machine (the generator then shares a core).
    #[arg(long, default_value = "0")]
    pub server_cores: String,
    /// The generator's core.
    #[arg(long, default_value_t = 1)]
    pub client_core: usize,
    /// An offered rate beyond both servers' capacity: what they complete is
    /// what they sustain on one core.
    #[arg(long, default_value_t = 60_000.0)]
    pub saturate: f64,
    /// ReportAction calls per second offered in the end-to-end phase
    /// (broker → outbox → relay → audit's log); 0 skips it.
    #[arg(long, default_value_t = 10_000.0)]
    pub report_rate: f64,
    /// Seconds the ReportAction phase offers its rate.
    #[arg(long, default_value_t = 5.0)]
    pub report_secs: f64,
    /// Only the ReportAction phase (after the same set-up).
    #[arg(long)]
    pub report_only: bool,
    /// How the ReportAction phase paces its sends: `sleep` leaves the
    /// generator's core to the servers when `--server-cores` includes it
    /// (the spinning default keeps that core busy).
    #[arg(long, value_enum, default_value_t = Pacing::Spin)]
    pub report_pacing: Pacing,
    /// Run the services on PostgreSQL instead of SQLite files: each uses
    /// the database named by this prefix plus its name (`…identity`,
    /// `…broker`, `…audit`), which must exist and be empty.
    #[arg(long)]
    pub database_prefix: Option<String>,
}

/// Child processes, stopped (by their own pid) when dropped.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `taskset -c <cores> <program>`.
fn pinned(cores: &str, program: &Path) -> Command {
    let mut c = Command::new("taskset");
    c.arg("-c").arg(cores).arg(program);
    c
}

/// Resident and peak memory of a process, MiB, from /proc.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    for _ in 0..600 {
        if ready() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{what} did not come up within 60 s")
}

/// Pairs per CheckAccessBatch call in the batch measurement.
const BATCH: usize = 50;

/// The tenant, session and backend token `keyholder demo --keep-access` leaves.
struct Fixture {
    tenant_id: String,
    session_token: String,
    backend_token: String,
    admin_token: String,
}

async fn fixture(keyholder: &Path, env: &[(String, String)]) -> anyhow::Result<Fixture> {
    let mut last = String::new();
    for _ in 0..60 {
        let o = Command::new(keyholder)
            .args(["demo", "--keep-access"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()?;
        if o.status.success() {
            let text = String::from_utf8_lossy(&o.stdout);
            let json: serde_json::Value =
                serde_json::from_str(text.lines().last().context("the demo printed nothing")?)?;
            let s = |k: &str| json[k].as_str().unwrap_or_default().to_string();
            return Ok(Fixture {
                tenant_id: s("tenant_id"),
                session_token: s("session_token"),
                backend_token: s("backend_token"),
                admin_token: s("admin_token"),
            });
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    anyhow::bail!("keyholder demo --keep-access kept failing: {last}")
}

/// One CheckAccess with the fixture, so the runs are known to measure an
/// allowed check (the generator itself only counts gRPC statuses).
async fn allowed_once(
    broker: &str,
    f: &Fixture,
) -> anyhow::Result<keyholder_proto::broker::v1::CheckAccessResponse> {
    use keyholder_proto::broker::v1::broker_service_client::BrokerServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(broker.to_string())?
        .connect()
        .await?;
    let mut request = tonic::Request::new(keyholder_proto::broker::v1::CheckAccessRequest {
        session_token: f.session_token.clone(),
        tenant_id: f.tenant_id.clone(),
        entity: "invoice".into(),
        action: "read".into(),
        record: false,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", f.backend_token).parse()?,
    );
    Ok(BrokerServiceClient::new(channel)
        .check_access(request)
        .await?
        .into_inner())
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Runs the comparison and prints it.
pub async fn run(args: &FloorArgs) -> anyhow::Result<()> {
    let me = std::process::id();
    let pin = Command::new("taskset")
        .args(["-cp", &args.client_core.to_string(), &me.to_string()])
        .stdout(Stdio::null())
        .status();
    if !pin.is_ok_and(|s| s.success()) {
        eprintln!(
            "warning: could not pin the generator to core {}",
            args.client_core
        );
    }
    let keyholder = std::fs::canonicalize(&args.keyholder)
        .with_context(|| format!("no keyholder binary at {}", args.keyholder.display()))?;
    let dir = std::env::temp_dir().join(format!("keyholder-floor-{me}"));
    std::fs::create_dir_all(&dir)?;
    let kek = dir.join("bench.kek");
    let made = Command::new(&keyholder)
        .args(["admin", "generate-kek", "--out"])
        .arg(&kek)
        .output()?;
    anyhow::ensure!(made.status.success(), "generate-kek failed");

    let (pi, pb, pa, pe) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let env: Vec<(String, String)> = [
        ("KEYHOLDER_DATA_DIR", dir.display().to_string()),
        ("KEYHOLDER_KEK_FILE", kek.display().to_string()),
        ("KEYHOLDER_WORKER_THREADS", "1".into()),
        ("KEYHOLDER_LOG", "warn".into()),
        ("KEYHOLDER_IDENTITY__LISTEN", format!("127.0.0.1:{pi}")),
        ("KEYHOLDER_BROKER__LISTEN", format!("127.0.0.1:{pb}")),
        ("KEYHOLDER_AUDIT__LISTEN", format!("127.0.0.1:{pa}")),
        ("KEYHOLDER_IDENTITY__URL", format!("http://127.0.0.1:{pi}")),
        ("KEYHOLDER_BROKER__URL", format!("http://127.0.0.1:{pb}")),
        ("KEYHOLDER_AUDIT__URL", format!("http://127.0.0.1:{pa}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(args.database_prefix.iter().flat_map(|prefix| {
        ["identity", "broker", "audit"].map(|service| {
            (
                format!("KEYHOLDER_{}__DATABASE_URL", service.to_uppercase()),
                format!("{prefix}{service}"),
            )
        })
    }))
    .collect();
    let spawn = |service: &str| -> anyhow::Result<Child> {
        Ok(pinned(&args.server_cores, &keyholder)
            .arg(service)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("KEYHOLDER_TEST_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?)
    };
    let mut children = Children(vec![("identity", spawn("identity")?)]);
    // Identity's first start writes the credentials broker and audit use.
    wait_for("identity's bootstrap", || {
        dir.join("broker.credentials").exists() && dir.join("audit.credentials").exists()
    })
    .await?;
    children.0.push(("broker", spawn("broker")?));
    children.0.push(("audit", spawn("audit")?));
    let exe = std::env::current_exe()?;
    children.0.push((
        "echo",
        pinned(&args.server_cores, &exe)
            .args(["echo", "--listen", &format!("127.0.0.1:{pe}")])
            .stdout(Stdio::null())
            .spawn()?,
    ));
    let f = fixture(&keyholder, &env).await?;
    let broker_at = format!("http://127.0.0.1:{pb}");
    let checked = allowed_once(&broker_at, &f).await?;
    println!(
        "CheckAccess answers allowed={} before the runs ({})",
        checked.allowed, checked.reason
    );
    anyhow::ensure!(
        checked.allowed,
        "the fixture's session is refused: the runs would measure a refusal, not an access check"
    );
    println!(
        "servers on core(s) {}, generator on core {}; one worker thread each",
        args.server_cores, args.client_core
    );
    if args.report_only {
        report_phase(args, &f, &broker_at, pa).await?;
        drop(children);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }

    let body = Bytes::from(
        keyholder_proto::broker::v1::CheckAccessRequest {
            session_token: f.session_token.clone(),
            tenant_id: f.tenant_id.clone(),
            entity: "invoice".into(),
            action: "read".into(),
            record: false,
        }
        .encode_to_vec(),
    );
    let headers = vec![(
        "authorization".to_string(),
        format!("Bearer {}", f.backend_token),
    )];
    println!(
        "request: {} bytes of CheckAccessRequest, authorization header {} bytes (both servers get the same)",
        body.len(),
        headers[0].1.len()
    );
    let plan = |target: String, method: &str, rate: f64| Plan {
        target,
        method: method.into(),
        body: body.clone(),
        headers: headers.clone(),
        rate,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        connections: args.connections,
        max_in_flight: 1000,
        drain: Duration::from_secs(5),
        pacing: Pacing::Spin,
    };
    let echo_at = format!("http://127.0.0.1:{pe}");
    let check = "/keyholder.broker.v1.BrokerService/CheckAccess";

    // rate → (echo p50s, echo p99s, check p50s, check p99s)
    let mut table: Vec<(f64, [Vec<u64>; 4])> = args
        .rates
        .iter()
        .map(|r| (*r, Default::default()))
        .collect();
    for rep in 1..=args.reps {
        for (rate, cells) in &mut table {
            for (i, (name, target, method)) in [
                ("echo", echo_at.clone(), crate::echo::METHOD),
                ("CheckAccess", broker_at.clone(), check),
            ]
            .into_iter()
            .enumerate()
            {
                let r = open_loop::run(&plan(target, method, *rate)).await?;
                println!("rep {rep} {rate:>6.0}/s {name:<11} {}", r.line());
                anyhow::ensure!(
                    r.errors.is_empty(),
                    "{name} answered errors: {:?}",
                    r.errors
                );
                if !r.latency.is_empty() {
                    cells[2 * i].push(r.latency.value_at_quantile(0.5));
                    cells[2 * i + 1].push(r.latency.value_at_quantile(0.99));
                }
            }
        }
    }
    println!(
        "\nmedian of {} repetitions, latency µs from the scheduled send:",
        args.reps
    );
    println!(
        "| rate/s | echo p50 | CheckAccess p50 | ratio | echo p99 | CheckAccess p99 | ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (rate, cells) in &table {
        let [e50, e99, c50, c99] = cells.clone().map(median);
        println!(
            "| {rate:.0} | {e50} | {c50} | {:.2}× | {e99} | {c99} | {:.2}× |",
            c50 as f64 / e50.max(1) as f64,
            c99 as f64 / e99.max(1) as f64
        );
    }

    println!(
        "\nsustained on one core (offered {:.0}/s, OK answers per second):",
        args.saturate
    );
    let mut sustained = Vec::new();
    for (name, target, method) in [
        ("echo", echo_at.clone(), crate::echo::METHOD),
        ("CheckAccess", broker_at.clone(), check),
    ] {
        let mut p = plan(target, method, args.saturate);
        p.duration = Duration::from_secs(5);
        p.warmup = Duration::from_secs(1);
        let r: Report = open_loop::run(&p).await?;
        println!("  {name:<11} {:.0}/s", r.ok_per_sec);
        sustained.push(r.ok_per_sec);
    }
    if let [echo, check] = sustained[..] {
        println!("  CheckAccess / echo = {:.2}×", check / echo.max(1.0));
    }

    // A page's worth of decisions in one call.
    let batch_body = Bytes::from(
        keyholder_proto::broker::v1::CheckAccessBatchRequest {
            session_token: f.session_token.clone(),
            tenant_id: f.tenant_id.clone(),
            checks: (0..BATCH)
                .map(|i| keyholder_proto::broker::v1::AccessCheck {
                    entity: format!("crm.item{i}"),
                    action: "read".into(),
                })
                .collect(),
            record: false,
        }
        .encode_to_vec(),
    );
    let mut p = plan(
        broker_at.clone(),
        "/keyholder.broker.v1.BrokerService/CheckAccessBatch",
        args.saturate,
    );
    p.body = batch_body;
    p.duration = Duration::from_secs(5);
    p.warmup = Duration::from_secs(1);
    let b = open_loop::run(&p).await?;
    anyhow::ensure!(
        b.errors.is_empty(),
        "CheckAccessBatch answered errors: {:?}",
        b.errors
    );
    println!(
        "  CheckAccessBatch of {BATCH}: {:.0} calls/s = {:.0} decisions/s ({:.2} µs per decision at saturation; latency µs {})",
        b.ok_per_sec,
        b.ok_per_sec * BATCH as f64,
        1e6 / (b.ok_per_sec * BATCH as f64).max(1.0),
        Report::percentiles(&b.latency)
    );

    // A burst of sign-ins: Argon2 working sets are pooled, so identity's
    // memory stays bounded however many arrive together.
    let operator: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("operator.credentials"))?)?;
    let sign_in = Bytes::from(
        keyholder_proto::identity::v1::SignInRequest {
            tenant_id: String::new(),
            email: operator["email"].as_str().unwrap_or_default().into(),
            password: operator["password"].as_str().unwrap_or_default().into(),
            totp_code: String::new(),
        }
        .encode_to_vec(),
    );
    let burst = open_loop::run(&Plan {
        target: format!("http://127.0.0.1:{pi}"),
        method: "/keyholder.identity.v1.IdentityService/SignIn".into(),
        body: sign_in,
        headers: Vec::new(),
        rate: 40.0,
        duration: Duration::from_secs(3),
        warmup: Duration::ZERO,
        connections: 1,
        max_in_flight: 1000,
        drain: Duration::from_secs(30),
        pacing: Pacing::Spin,
    })
    .await?;
    println!("\nsign-in burst, 40/s offered for 3 s: {}", burst.line());

    println!("\nmemory after the runs (MiB, resident now / peak):");
    for (name, child) in &children.0 {
        // `taskset` execs the program, so the child's pid is the server's.
        let (rss, peak) = memory_mib(child.id());
        println!("  {name:<9} {rss:>6.1} / {peak:>6.1}");
    }
    report_phase(args, &f, &broker_at, pa).await?;
    drop(children);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn report_phase(
    args: &FloorArgs,
    f: &Fixture,
    broker_at: &str,
    pa: u16,
) -> anyhow::Result<()> {
    if args.report_rate > 0.0 {
        println!(
            "\nReportAction into audit's log (servers on core(s) {}, generator on core {}, {:?} pacing):",
            args.server_cores, args.client_core, args.report_pacing
        );
        crate::relay::report_into_audit(
            &crate::relay::Target {
                broker: broker_at.to_string(),
                audit: format!("http://127.0.0.1:{pa}"),
                tenant_id: &f.tenant_id,
                session_token: &f.session_token,
                backend_token: &f.backend_token,
                admin_token: &f.admin_token,
            },
            args.report_rate,
            args.report_secs,
            args.report_pacing,
        )
        .await?;
    }
    Ok(())
}
