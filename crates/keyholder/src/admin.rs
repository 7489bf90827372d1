//! `keyholder admin …`: the operator's first steps after `keyholder up`,
//! through identity's gRPC API with the bootstrap operator credentials —
//! create a tenant, a support agent, a service account.

use anyhow::Context;
use clap::Subcommand;
use keyholder_kit::client::authorized;
use keyholder_kit::config::Config;
use keyholder_kit::credentials::{self, OperatorCredentials};
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use tonic::transport::Channel;

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
}

async fn operator_client(
    config: &Config,
) -> anyhow::Result<(IdentityServiceClient<Channel>, String)> {
    let path = config.data_dir.join("operator.credentials");
    let creds: OperatorCredentials = credentials::read(&path)
        .with_context(|| "run `keyholder up` once first: it writes the operator's credentials")?;
    let channel = keyholder_kit::client::channel(&config.identity.identity_url)?;
    let mut client = IdentityServiceClient::new(channel);
    let tokens = client
        .sign_in(pb::SignInRequest {
            tenant_id: String::new(),
            email: creds.email,
            password: creds.password,
            totp_code: String::new(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("operator sign-in failed: {}", s.message()))?
        .into_inner()
        .tokens
        .context("identity returned no tokens")?;
    Ok((client, tokens.access_token))
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs one admin command and prints its result.
pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let (mut client, token) = operator_client(config).await?;
    let fail = |s: tonic::Status| anyhow::anyhow!("{:?}: {}", s.code(), s.message());
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
            let resp = client
                .create_tenant(authorized(
                    pb::CreateTenantRequest {
                        request_id: request_id(),
                        name,
                        seat_limit: seats,
                        locale: locale as i32,
                        chief_admin: Some(pb::ChiefAdminSpec {
                            email: chief_email,
                            display_name: chief_name,
                            password: chief_password,
                        }),
                    },
                    &token,
                ))
                .await
                .map_err(fail)?
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
            let resp = client
                .create_support_agent(authorized(
                    pb::CreateSupportAgentRequest {
                        request_id: request_id(),
                        email,
                        display_name: name,
                        password,
                    },
                    &token,
                ))
                .await
                .map_err(fail)?
                .into_inner();
            let user = resp.user.context("no agent in the answer")?;
            println!("agent_id={}", user.user_id);
            // Shown once, for the agent's authenticator app; never stored in clear.
            println!("totp_uri={}", resp.otpauth_uri);
        }
        AdminCommand::CreateServiceAccount { name, scopes } => {
            let resp = client
                .create_service_account(authorized(
                    pb::CreateServiceAccountRequest {
                        request_id: request_id(),
                        name,
                        scopes,
                    },
                    &token,
                ))
                .await
                .map_err(fail)?
                .into_inner();
            let account = resp.account.context("no account in the answer")?;
            println!("client_id={}", account.client_id);
            println!("client_secret={}", resp.client_secret);
        }
    }
    Ok(())
}
