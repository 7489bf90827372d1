//! `keyholder`: run the whole suite on the embedded defaults (`up`), or one
//! service alone (as on Kubernetes); bring databases up to date
//! (`migrate`); and the operator's commands over gRPC, with `demo` walking
//! the whole support-access lifecycle against a running suite.

#![forbid(unsafe_code)]

mod admin;
mod connect;
mod demo;
mod migrate;
mod ops;
mod output;
mod run;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Keyholder: support and integrator access to customer accounts, only when
/// the customer's admin allows it, on the record.
#[derive(Debug, Parser)]
#[command(name = "keyholder", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    who: connect::SignInArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start identity, broker and audit together (SQLite files and a mail
    /// folder under KEYHOLDER_DATA_DIR unless configured otherwise).
    Up,
    /// Start only the identity service.
    Identity,
    /// Start only the broker service.
    Broker,
    /// Start only the audit service.
    Audit,
    /// Bring the services' database schemas up to date and exit (under a
    /// lock, so replicas and Jobs never race); all three when none is named.
    Migrate {
        /// identity, broker or audit (repeatable).
        #[arg(value_enum)]
        services: Vec<migrate::Service>,
    },
    /// Walk the whole support-access lifecycle against a running suite
    /// (`keyholder up`), printing each step: a demo tenant and agent, a
    /// request, its approval, the agent's sign-in and the chief admin's
    /// e-mail, CheckAccess, an action, the login history, the revocation,
    /// and the chain's verification.
    Demo {
        /// Stop before the revocation and print the session as JSON
        /// (`tenant_id`, `session_token`, `backend_token`, and the chief
        /// admin's `admin_token`): the fixture the CheckAccess benchmark
        /// calls with.
        #[arg(long)]
        keep_access: bool,
    },
    #[command(flatten)]
    Ops(ops::OpsCommand),
    /// Operator tasks through identity's API (uses the bootstrap operator
    /// credentials in KEYHOLDER_DATA_DIR), and key-encryption key upkeep
    /// (`generate-kek`, `rotate-kek`) on the services' databases.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match keyholder_kit::config::Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keyholder: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = config.worker_threads {
        runtime.worker_threads(n.max(1));
    }
    match runtime.build() {
        Ok(rt) => rt.block_on(run_command(cli, config)),
        Err(e) => {
            eprintln!("keyholder: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_command(cli: Cli, config: keyholder_kit::config::Config) -> ExitCode {
    let service = match cli.command {
        Command::Up => Some("suite"),
        Command::Identity => Some("identity"),
        Command::Broker => Some("broker"),
        Command::Audit => Some("audit"),
        // Commands print their results on stdout; no log lines among them.
        _ => None,
    };
    let _telemetry = match service.map(|s| keyholder_kit::telemetry::init(&config, s)) {
        Some(Err(e)) => {
            eprintln!("keyholder: {e}");
            return ExitCode::from(2);
        }
        other => other.and_then(Result::ok),
    };
    let shutdown = keyholder_kit::shutdown::on_signal();
    let result = match cli.command {
        Command::Up => run::up(&config, shutdown).await,
        Command::Identity => run::identity(&config, shutdown).await,
        Command::Broker => run::broker(&config, shutdown).await,
        Command::Audit => run::audit(&config, shutdown).await,
        Command::Migrate { services } => migrate::run(&config, &services).await,
        Command::Demo { keep_access } => demo::run(&config, keep_access).await,
        Command::Admin { command } => admin::run(&config, command).await,
        Command::Ops(command) => ops::run(&config, &cli.who, cli.json, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if service.is_some() {
                tracing::error!(error = %format!("{e:#}"), "keyholder stopped with an error");
            }
            eprintln!("keyholder: {e:#}");
            ExitCode::FAILURE
        }
    }
}
