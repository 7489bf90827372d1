//! The one typed configuration of the suite: defaults, then an optional TOML
//! file (`KEYHOLDER_CONFIG`), then `KEYHOLDER_*` environment variables (nested
//! keys with `__`, e.g. `KEYHOLDER_BROKER__LISTEN`). Unknown keys are rejected so
//! a typo fails loudly instead of being ignored.

use crate::secret::Secret;

mod sections;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use sections::Endpoint;
pub use sections::{AuditConfig, BrokerConfig, IdentityConfig, OutboxConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Which service a setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceName {
    /// keyholder.identity.v1
    Identity,
    /// keyholder.broker.v1
    Broker,
    /// keyholder.audit.v1
    Audit,
}

impl ServiceName {
    /// Lowercase name, used for files, tables and telemetry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Broker => "broker",
            Self::Audit => "audit",
        }
    }
}

/// The whole suite's configuration: what every process shares at the top,
/// and one section per service holding only what that service uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where SQLite files, credentials and the mail folder live.
    pub data_dir: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Tracing filter directives.
    pub log: String,
    /// OTLP/gRPC endpoint; traces are exported only when set. `https://`
    /// verifies the collector with `tls.ca_file` (the public web roots
    /// without one).
    pub otlp_endpoint: Option<String>,
    /// TLS on every hop: listeners, calls between services, OTLP export.
    pub tls: crate::tls::TlsConfig,
    /// Seconds to let in-flight calls finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Tokio worker threads of a `keyholder` server process; one per core
    /// when unset. Benchmarks pin a service to one core with one worker.
    pub worker_threads: Option<usize>,
    /// Whether each service brings its database schema up to date when it
    /// starts (under a lock, so replicas never race). Off where a
    /// `keyholder migrate` init container or Job does it; a service then
    /// refuses to start on a schema behind its release.
    pub migrate_on_start: bool,
    /// A file holding the key-encryption key(s) that seal stored secrets
    /// (a mounted Kubernetes Secret): base64 keys, one per line, the first
    /// sealing and every one opening. `keyholder up` writes one into the data
    /// dir when neither this nor `kek` is set.
    pub kek_file: Option<PathBuf>,
    /// The key-encryption key(s) themselves, comma-separated (wins over `kek_file`).
    pub kek: Option<Secret>,
    /// Identity service.
    pub identity: IdentityConfig,
    /// Broker service.
    pub broker: BrokerConfig,
    /// Audit service.
    pub audit: AuditConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            log_format: LogFormat::Text,
            log: "info,sqlx=warn,sea_orm=warn".into(),
            otlp_endpoint: None,
            tls: crate::tls::TlsConfig::default(),
            shutdown_grace_secs: 10,
            worker_threads: None,
            migrate_on_start: true,
            kek_file: None,
            kek: None,
            identity: IdentityConfig::default(),
            broker: BrokerConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

/// Settings that moved into a service's section, for a clear error when an
/// old name is used.
const MOVED: &[(&str, &str)] = &[
    (
        "operator_credentials_file",
        "identity.operator_credentials_file",
    ),
    (
        "grant_ending_notice_secs",
        "broker.grant_ending_notice_secs",
    ),
    (
        "standing_max_staleness_secs",
        "broker.standing_max_staleness_secs and audit.standing_max_staleness_secs",
    ),
    ("audit_checkpoint_secs", "audit.checkpoint_secs"),
    ("audit_checkpoint_events", "audit.checkpoint_events"),
    ("audit_witness_dir", "audit.witness_dir"),
    ("smtp_url", "audit.smtp_url"),
    ("mail_from", "audit.mail_from"),
];

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// Parsing or an unknown key.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Environment variables with the prefix that are not configuration keys
/// (the test database and transport, and who the `keyholder` CLI acts as,
/// with the passwords it reads from the environment).
const NOT_CONFIG: &[&str] = &[
    "config",
    "test_database_url",
    "test_tls",
    "chief_password",
    "agent_password",
    "as",
    "as_tenant",
    "as_password",
    "as_totp",
    "token",
];

impl Config {
    /// Loads defaults, then `KEYHOLDER_CONFIG`'s file, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var_os("KEYHOLDER_CONFIG").map(PathBuf::from);
        Self::load_from(file.as_deref(), Env::prefixed("KEYHOLDER_"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(env.split("__").ignore(NOT_CONFIG));
        fig.extract()
            .map_err(|e| ConfigError::Invalid(with_moved_hint(e.to_string())))
    }

    fn endpoint(&self, name: ServiceName) -> Endpoint<'_> {
        match name {
            ServiceName::Identity => self.identity.endpoint(),
            ServiceName::Broker => self.broker.endpoint(),
            ServiceName::Audit => self.audit.endpoint(),
        }
    }

    /// The database URL of a service: the configured one, or an SQLite file
    /// `<data_dir>/<service>.db`.
    pub fn database_url(&self, name: ServiceName) -> Secret {
        match self.endpoint(name).database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir
                    .join(format!("{}.db", name.as_str()))
                    .display()
            )),
        }
    }

    /// The credentials file a service uses to call the others.
    pub fn credentials_file(&self, name: ServiceName) -> PathBuf {
        self.endpoint(name)
            .credentials_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.data_dir.join(format!("{}.credentials", name.as_str())))
    }

    /// The operator's credentials file.
    pub fn operator_credentials_file(&self) -> PathBuf {
        self.identity
            .operator_credentials_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("operator.credentials"))
    }

    /// Where `keyholder up` keeps the key-encryption key it generates.
    pub fn default_kek_file(&self) -> PathBuf {
        self.data_dir.join("keyholder.kek")
    }

    /// How often audit signs checkpoints (at least 1 s).
    pub fn audit_checkpoint_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.audit.checkpoint_secs.max(1))
    }

    /// Audit's witness folder.
    pub fn audit_witness_dir(&self) -> PathBuf {
        self.audit
            .witness_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("witness"))
    }

    /// The grace period after a shutdown signal.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_secs)
    }

    /// How long before a grant's end its "ending soon" notice goes out.
    pub fn grant_ending_notice(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::try_from(self.broker.grant_ending_notice_secs).unwrap_or(i64::MAX / 1000),
        )
    }

    /// The bound on a follower's last confirmed standing (at least 1 s).
    pub fn standing_max_staleness(&self, name: ServiceName) -> std::time::Duration {
        let secs = match name {
            ServiceName::Audit => self.audit.standing_max_staleness_secs,
            ServiceName::Broker | ServiceName::Identity => self.broker.standing_max_staleness_secs,
        };
        std::time::Duration::from_secs(secs.max(1))
    }
}

/// Milliseconds as a duration, at least one.
pub fn millis(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms.max(1))
}

/// Hours as a duration.
pub fn hours(h: u64) -> chrono::Duration {
    chrono::Duration::hours(i64::try_from(h).unwrap_or(i64::MAX / 3_600_000_000))
}

/// Points an unknown top-level key that moved into a section at its new home.
fn with_moved_hint(message: String) -> String {
    let hint = MOVED
        .iter()
        .find(|(old, _)| message.contains(&format!("unknown field: found `{old}`")));
    match hint {
        Some((old, new)) => format!(
            "{message} (`{old}` moved into its service's section: set {new}, e.g. KEYHOLDER_{})",
            new.split(' ')
                .next()
                .unwrap_or(new)
                .replace('.', "__")
                .to_uppercase()
        ),
        None => message,
    }
}

#[cfg(test)]
mod tests;
