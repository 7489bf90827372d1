//! The operator's and the customer admin's commands over gRPC: each one a
//! few calls through the public API, printed as a table (or `--json`).
//! Errors are the server's own message and a non-zero exit.

pub mod access;
pub mod helpdesk;
pub mod people;
pub mod records;

use crate::connect::{Session, SignInArgs};
use clap::Subcommand;
use keyholder_kit::config::Config;
use std::path::PathBuf;

/// The most rows a list command fetches (pages of 100).
pub const MAX_ROWS: usize = 10_000;

/// Commands that act through the running services.
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Tenants: list, show.
    Tenants {
        #[command(subcommand)]
        command: people::TenantsCommand,
    },
    /// Users of a tenant (or the vendor's staff).
    Users {
        #[command(subcommand)]
        command: people::UsersCommand,
    },
    /// A tenant's support-access mode: show, set.
    Access {
        #[command(subcommand)]
        command: access::AccessCommand,
    },
    /// Access requests: list, approve, deny.
    Requests {
        #[command(subcommand)]
        command: access::RequestsCommand,
    },
    /// Grants: list, extend, revoke.
    Grants {
        #[command(subcommand)]
        command: access::GrantsCommand,
    },
    /// Helpdesk connectors (docs/helpdesk.md): list, create, delete.
    Connectors {
        #[command(subcommand)]
        command: helpdesk::ConnectorsCommand,
    },
    /// Outbound webhook subscriptions: list, create, delete, deliveries.
    Webhooks {
        #[command(subcommand)]
        command: helpdesk::WebhooksCommand,
    },
    /// A tenant's login history: who entered, when, why, granted by whom.
    History {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// Only this agent's sign-ins.
        #[arg(long, default_value = "")]
        agent: String,
    },
    /// Check a tenant's audit chain against its signed checkpoints and the
    /// witness (exit status 1 when it is not intact).
    VerifyChain {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// Re-verify every event, not only those since the last signed
        /// checkpoint (which audit checks first).
        #[arg(long)]
        full: bool,
    },
    /// Export a tenant's audit events (progress on stderr).
    Export {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// jsonl or csv.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: records::Format,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs one command as `who`.
pub async fn run(
    config: &Config,
    who: &SignInArgs,
    json: bool,
    command: OpsCommand,
) -> anyhow::Result<()> {
    let mut s = Session::open(config, who).await?;
    match command {
        OpsCommand::Tenants { command } => people::tenants(&mut s, command, json).await,
        OpsCommand::Users { command } => people::users(&mut s, command, json).await,
        OpsCommand::Access { command } => access::access(&mut s, command, json).await,
        OpsCommand::Requests { command } => access::requests(&mut s, command, json).await,
        OpsCommand::Grants { command } => access::grants(&mut s, command, json).await,
        OpsCommand::Connectors { command } => helpdesk::connectors(&mut s, command, json).await,
        OpsCommand::Webhooks { command } => helpdesk::webhooks(&mut s, command, json).await,
        OpsCommand::History { tenant, agent } => {
            records::history(&mut s, tenant, agent, json).await
        }
        OpsCommand::VerifyChain { tenant, full } => {
            records::verify_chain(&mut s, tenant, full, json).await
        }
        OpsCommand::Export {
            tenant,
            format,
            out,
        } => records::export(&mut s, tenant, format, out).await,
    }
}
