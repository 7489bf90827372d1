//! Who the CLI acts as, and its clients of the three services. Each service
//! is dialled at the address the servers themselves use for it
//! (`KEYHOLDER_IDENTITY__URL`, `KEYHOLDER_BROKER__URL`,
//! `KEYHOLDER_AUDIT__URL`), so one setting serves both.

use anyhow::Context;
use keyholder_kit::client::{Channel, authorized};
use keyholder_kit::config::Config;
use keyholder_kit::credentials::{self, OperatorCredentials};
use keyholder_proto::audit::v1::audit_service_client::AuditServiceClient;
use keyholder_proto::broker::v1::broker_service_client::BrokerServiceClient;
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;

/// Whom to sign in as. By default the operator, from its credentials file;
/// a customer's admin (approving requests, revoking grants, reading the
/// login history) signs in with `--as` and the password in the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SignInArgs {
    /// Act as this person (their e-mail) instead of the operator.
    #[arg(long = "as", env = "KEYHOLDER_AS", global = true)]
    pub email: Option<String>,
    /// The tenant of the person in `--as` (empty for the vendor's staff).
    #[arg(long = "as-tenant", env = "KEYHOLDER_AS_TENANT", global = true)]
    pub tenant: Option<String>,
    /// Their password: from the environment only, never the command line.
    #[arg(
        long = "as-password",
        env = "KEYHOLDER_AS_PASSWORD",
        hide_env_values = true,
        hide = true,
        global = true
    )]
    pub password: Option<String>,
    /// Their current TOTP code, when they have one enrolled.
    #[arg(long = "as-totp", env = "KEYHOLDER_AS_TOTP", global = true)]
    pub totp: Option<String>,
    /// Use this access token as it is, instead of signing in.
    #[arg(
        long = "token",
        env = "KEYHOLDER_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

/// Clients of the three services, with the caller's access token.
pub struct Session {
    /// Identity.
    pub identity: IdentityServiceClient<Channel>,
    /// Broker.
    pub broker: BrokerServiceClient<Channel>,
    /// Audit.
    pub audit: AuditServiceClient<Channel>,
    token: String,
}

impl Session {
    /// Signs in as `who` (or takes its token) and opens the three channels.
    pub async fn open(config: &Config, who: &SignInArgs) -> anyhow::Result<Self> {
        let mut identity = IdentityServiceClient::new(keyholder_kit::client::channel(
            &config.identity.url,
            &config.tls,
        )?);
        let token = match (&who.token, &who.email) {
            (Some(token), _) => token.clone(),
            (None, Some(email)) => {
                let password = who
                    .password
                    .clone()
                    .context("set KEYHOLDER_AS_PASSWORD to the password of the person in --as")?;
                sign_in(
                    &mut identity,
                    who.tenant.clone().unwrap_or_default(),
                    email.clone(),
                    password,
                    who.totp.clone().unwrap_or_default(),
                )
                .await?
            }
            (None, None) => {
                let path = config.operator_credentials_file();
                let creds: OperatorCredentials = credentials::read(&path).with_context(|| {
                    format!(
                        "cannot read the operator's credentials at {} (run `keyholder up` once, \
                         set KEYHOLDER_IDENTITY__OPERATOR_CREDENTIALS_FILE, or sign in with --as)",
                        path.display()
                    )
                })?;
                sign_in(
                    &mut identity,
                    String::new(),
                    creds.email,
                    creds.password,
                    String::new(),
                )
                .await?
            }
        };
        Ok(Self {
            identity,
            broker: BrokerServiceClient::new(keyholder_kit::client::channel(
                &config.broker.url,
                &config.tls,
            )?),
            audit: AuditServiceClient::new(keyholder_kit::client::channel(
                &config.audit.url,
                &config.tls,
            )?),
            token,
        })
    }

    /// `message` with the caller's `authorization` header.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        authorized(message, &self.token)
    }
}

/// Signs in to identity; the access token.
pub async fn sign_in(
    identity: &mut IdentityServiceClient<Channel>,
    tenant_id: String,
    email: String,
    password: String,
    totp_code: String,
) -> anyhow::Result<String> {
    let resp = identity
        .sign_in(pb::SignInRequest {
            tenant_id,
            email,
            password,
            totp_code,
        })
        .await
        .map_err(|s| refused("sign-in", &s))?
        .into_inner();
    Ok(resp
        .tokens
        .context("identity answered without tokens")?
        .access_token)
}

/// A server's refusal as the CLI prints it: what was being done, the status
/// code, and the server's own message.
pub fn refused(what: &str, status: &tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{what} refused ({:?}): {}", status.code(), status.message())
}

/// A fresh idempotency key for one change.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
