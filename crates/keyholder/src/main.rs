//! `keyholder`: run the whole suite on the embedded defaults (`up`), or one
//! service alone (as on Kubernetes).

#![forbid(unsafe_code)]

mod admin;
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
    /// Operator tasks through identity's API (uses the bootstrap operator
    /// credentials in KEYHOLDER_DATA_DIR), and key-encryption key upkeep
    /// (`generate-kek`, `rotate-kek`) on the services' databases.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match keyholder_kit::config::Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keyholder: {e}");
            return ExitCode::from(2);
        }
    };
    let name = match cli.command {
        Command::Up => "suite",
        Command::Identity => "identity",
        Command::Broker => "broker",
        Command::Audit => "audit",
        Command::Admin { .. } => "admin",
    };
    let _telemetry = match keyholder_kit::telemetry::init(&config, name) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("keyholder: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = keyholder_kit::shutdown::on_signal();
    let result = match cli.command {
        Command::Up => run::up(&config, shutdown).await,
        Command::Identity => run::identity(&config, shutdown).await,
        Command::Broker => run::broker(&config, shutdown).await,
        Command::Audit => run::audit(&config, shutdown).await,
        Command::Admin { command } => admin::run(&config, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if name != "admin" {
                tracing::error!(error = %format!("{e:#}"), "keyholder stopped with an error");
            }
            eprintln!("keyholder: {e:#}");
            ExitCode::FAILURE
        }
    }
}
