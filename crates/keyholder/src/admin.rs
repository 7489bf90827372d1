//! `keyholder admin …`: the operator's first steps after `keyholder up`,
//! through identity's gRPC API with the bootstrap operator credentials —
//! create a tenant, a support agent, a service account — and upkeep done
//! straight on the services' databases and files: the key-encryption key,
//! the service credentials a Kubernetes install starts from, and a lost
//! operator password.

use crate::connect::{Session, SignInArgs, refused, request_id};
use anyhow::Context;
use clap::Subcommand;
use keyholder_identity::domain::{password, random};
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::credentials::{self, OperatorCredentials, ServiceCredentials};
use keyholder_kit::kek::{self, KekRing};
use keyholder_kit::sealed::ResealReport;
use keyholder_proto::identity::v1 as pb;
use std::path::{Path, PathBuf};

/// What the operator can do from the command line.
// The variants are CLI verbs (`create-tenant`, …); the shared prefix is the point.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and its chief admin.
    CreateTenant {
        /// Tenant name.
        #[arg(long)]
        name: String,
        /// Licensed seats.
        #[arg(long, default_value_t = 10)]
        seats: u32,
        /// E-mail language: en or ru.
        #[arg(long, default_value = "en")]
        locale: String,
        /// The chief admin's e-mail.
        #[arg(long)]
        chief_email: String,
        /// The chief admin's display name.
        #[arg(long)]
        chief_name: String,
        /// The chief admin's initial password (at least 12 characters).
        #[arg(long, env = "KEYHOLDER_CHIEF_PASSWORD", hide_env_values = true)]
        chief_password: String,
    },
    /// Create a support agent; prints the TOTP secret once.
    CreateAgent {
        /// E-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Password (at least 12 characters).
        #[arg(long, env = "KEYHOLDER_AGENT_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Create a service account (a backend or the helpdesk); prints its secret once.
    CreateServiceAccount {
        /// Name.
        #[arg(long)]
        name: String,
        /// Scopes, e.g. broker.check_access, broker.helpdesk.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// Write a fresh key-encryption key to a new file (mode 0600).
    GenerateKek {
        /// The file to create; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write fresh credentials for the operator, the broker and audit into a
    /// new folder (0600 files), to put in a Kubernetes Secret before the
    /// first start: identity registers them, broker and audit sign in with
    /// theirs.
    GenerateCredentials {
        /// The folder to create them in; existing files are never overwritten.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Give the operator a new random password and end its sessions, straight
    /// in identity's database (for a lost password; nobody can sign in to
    /// change it). Writes the new credentials file, or prints it.
    ResetOperator {
        /// Where to write the credentials (the operator credentials file
        /// when omitted).
        #[arg(long, conflicts_with = "print")]
        out: Option<PathBuf>,
        /// Print the credentials as JSON instead (for a Kubernetes Secret).
        #[arg(long)]
        print: bool,
    },
    /// Re-seal every stored secret of the three services with the new
    /// key-encryption key. Safe while the services run, once they all hold
    /// the new key in their ring (see the README's rotation steps).
    RotateKek {
        /// File holding the new key (its first key seals).
        #[arg(long)]
        new: PathBuf,
        /// Files holding the keys being retired (repeatable).
        #[arg(long = "old", required = true)]
        old: Vec<PathBuf>,
    },
}

/// The ring `rotate-kek` works with: the new key first (it seals), then
/// every old one (they only open).
fn rotation_ring(new: &Path, old: &[PathBuf]) -> anyhow::Result<KekRing> {
    let mut text = std::fs::read_to_string(new)
        .with_context(|| format!("cannot read the new key file {}", new.display()))?;
    for path in old {
        text.push('\n');
        text.push_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the old key file {}", path.display()))?,
        );
    }
    Ok(KekRing::parse(&text)?)
}

/// Re-seals every stored secret of identity, broker and audit under
/// `ring`'s first key; what each service's tables held.
pub async fn rotate_kek(
    config: &Config,
    ring: &KekRing,
) -> anyhow::Result<Vec<(&'static str, ResealReport)>> {
    let mut reports = Vec::new();
    for service in [
        ServiceName::Identity,
        ServiceName::Broker,
        ServiceName::Audit,
    ] {
        let db = keyholder_kit::db::connect(&config.database_url(service))
            .await
            .with_context(|| format!("{} database", service.as_str()))?;
        let report = match service {
            ServiceName::Identity => keyholder_identity::store::sealed::reseal(&db, ring).await,
            ServiceName::Broker => keyholder_broker::store::keys::reseal(&db, ring).await,
            ServiceName::Audit => keyholder_audit::store::chain::reseal(&db, ring).await,
        }
        .with_context(|| format!("re-sealing {}'s secrets", service.as_str()))?;
        let _ = db.close().await;
        reports.push((service.as_str(), report));
    }
    Ok(reports)
}

/// Runs one admin command and prints its result.
pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    // Key upkeep works on the databases, not through identity's API.
    let command = match command {
        AdminCommand::GenerateKek { out } => {
            if !kek::create_file_if_missing(&out)? {
                anyhow::bail!("{} exists; not overwriting a key", out.display());
            }
            let id = KekRing::from_file(&out)?.current_id().to_string();
            println!("kek_id={id}");
            println!("file={}", out.display());
            return Ok(());
        }
        AdminCommand::RotateKek { new, old } => {
            let ring = rotation_ring(&new, &old)?;
            for (service, r) in rotate_kek(config, &ring).await? {
                println!(
                    "{service}: rewrapped={} sealed_plaintext={} already_current={} changed_meanwhile={}",
                    r.rewrapped, r.sealed_plaintext, r.current, r.changed_meanwhile
                );
            }
            println!("kek_id={}", ring.current_id());
            return Ok(());
        }
        AdminCommand::GenerateCredentials { out_dir } => return generate_credentials(&out_dir),
        AdminCommand::ResetOperator { out, print } => {
            return reset_operator(config, out, print).await;
        }
        other => other,
    };
    let mut session = Session::open(config, &SignInArgs::default()).await?;
    let fail = |what: &'static str| move |s: tonic::Status| refused(what, &s);
    match command {
        AdminCommand::CreateTenant {
            name,
            seats,
            locale,
            chief_email,
            chief_name,
            chief_password,
        } => {
            let locale = match locale.as_str() {
                "en" => pb::Locale::En,
                "ru" => pb::Locale::Ru,
                other => anyhow::bail!("locale must be en or ru, not {other}"),
            };
            let resp = session
                .identity
                .create_tenant(session.call(pb::CreateTenantRequest {
                    request_id: request_id(),
                    name,
                    seat_limit: seats,
                    locale: locale as i32,
                    chief_admin: Some(pb::ChiefAdminSpec {
                        email: chief_email,
                        display_name: chief_name,
                        password: chief_password,
                    }),
                }))
                .await
                .map_err(fail("creating the tenant"))?
                .into_inner();
            let tenant = resp.tenant.context("no tenant in the answer")?;
            println!("tenant_id={}", tenant.tenant_id);
            println!("chief_admin_id={}", tenant.chief_admin_id);
        }
        AdminCommand::CreateAgent {
            email,
            name,
            password,
        } => {
            let resp = session
                .identity
                .create_support_agent(session.call(pb::CreateSupportAgentRequest {
                    request_id: request_id(),
                    email,
                    display_name: name,
                    password,
                }))
                .await
                .map_err(fail("creating the agent"))?
                .into_inner();
            let user = resp.user.context("no agent in the answer")?;
            println!("agent_id={}", user.user_id);
            // Shown once, for the agent's authenticator app; never stored in clear.
            println!("totp_uri={}", resp.otpauth_uri);
        }
        AdminCommand::CreateServiceAccount { name, scopes } => {
            let resp = session
                .identity
                .create_service_account(session.call(pb::CreateServiceAccountRequest {
                    request_id: request_id(),
                    name,
                    scopes,
                }))
                .await
                .map_err(fail("creating the service account"))?
                .into_inner();
            let account = resp.account.context("no account in the answer")?;
            println!("client_id={}", account.client_id);
            println!("client_secret={}", resp.client_secret);
        }
        AdminCommand::GenerateKek { .. }
        | AdminCommand::RotateKek { .. }
        | AdminCommand::GenerateCredentials { .. }
        | AdminCommand::ResetOperator { .. } => {}
    }
    Ok(())
}

/// Writes operator, broker and audit credentials into a new `dir`.
fn generate_credentials(dir: &Path) -> anyhow::Result<()> {
    let operator = dir.join("operator.credentials");
    let broker = dir.join("broker.credentials");
    let audit = dir.join("audit.credentials");
    for path in [&operator, &broker, &audit] {
        if path.exists() {
            anyhow::bail!("{} exists; not overwriting credentials", path.display());
        }
    }
    credentials::write(
        &operator,
        &OperatorCredentials {
            email: keyholder_identity::bootstrap::OPERATOR_EMAIL.into(),
            password: random::secret(18)?,
        },
    )?;
    for (path, service) in [(&broker, "broker"), (&audit, "audit")] {
        credentials::write(
            path,
            &ServiceCredentials {
                client_id: format!("{service}-{}", random::id()),
                client_secret: random::secret(32)?,
            },
        )?;
    }
    for path in [&operator, &broker, &audit] {
        println!("{}", path.display());
    }
    Ok(())
}

/// Replaces the operator's password in identity's database.
async fn reset_operator(config: &Config, out: Option<PathBuf>, print: bool) -> anyhow::Result<()> {
    let new_password = random::secret(18)?;
    let hash = password::hash(&new_password).await?;
    let db = keyholder_kit::db::connect(&config.database_url(ServiceName::Identity))
        .await
        .context("identity database")?;
    let now = chrono::Utc::now();
    let reset = keyholder_identity::store::operator::reset_operator(&db, hash, now)
        .await
        .context("resetting the operator")?;
    let _ = db.close().await;
    let Some((_, email)) = reset else {
        anyhow::bail!(
            "identity's database has no operator yet: start identity once and it makes one"
        );
    };
    let creds = OperatorCredentials {
        email,
        password: new_password,
    };
    if print {
        println!("{}", serde_json::to_string_pretty(&creds)?);
        return Ok(());
    }
    let path = out.unwrap_or_else(|| config.operator_credentials_file());
    credentials::write(&path, &creds)?;
    println!("operator={}", creds.email);
    println!("file={}", path.display());
    println!("sessions_ended=true");
    Ok(())
}
