//! The one typed configuration of the suite: defaults, then an optional TOML
//! file (`KEYHOLDER_CONFIG`), then `KEYHOLDER_*` environment variables (nested
//! keys with `__`, e.g. `KEYHOLDER_BROKER__LISTEN`). Unknown keys are rejected so
//! a typo fails loudly instead of being ignored.

use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
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

/// Settings of one service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database URL; an SQLite file under the data dir when unset.
    pub database_url: Option<Secret>,
    /// Where this service is reached: the other services and the
    /// `keyholder` CLI call it here (`KEYHOLDER_BROKER__URL`, …).
    pub url: String,
    /// Service-account credentials file for calling the other services; defaults
    /// to `<data_dir>/<service>.credentials` (written by identity's bootstrap).
    pub credentials_file: Option<PathBuf>,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Where broker takes helpdesk webhooks (`POST /webhooks/<connector>`);
    /// off when unset. Broker only.
    #[serde(default)]
    pub webhook_listen: Option<SocketAddr>,
}

impl ServiceConfig {
    fn with_port(port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            database_url: None,
            url: format!("http://127.0.0.1:{port}"),
            credentials_file: None,
            metrics_listen: None,
            webhook_listen: None,
        }
    }
}

/// The whole suite's configuration.
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
    /// The operator's credentials file (e-mail and password), written on
    /// identity's first start unless it exists; on Kubernetes a Secret.
    /// `<data_dir>/operator.credentials` when unset.
    pub operator_credentials_file: Option<PathBuf>,
    /// Seconds broker and audit keep serving on their last confirmed copy
    /// of identity's standing feed after losing it; beyond that they refuse
    /// every call (fail closed) and report NOT_SERVING until it is back.
    pub standing_max_staleness_secs: u64,
    /// Seconds before a grant's end that broker sends its "ending soon"
    /// notice (to the agent and the admin who granted it).
    pub grant_ending_notice_secs: u64,
    /// A file holding the key-encryption key(s) that seal stored secrets
    /// (a mounted Kubernetes Secret): base64 keys, one per line, the first
    /// sealing and every one opening. `keyholder up` writes one into the data
    /// dir when neither this nor `kek` is set.
    pub kek_file: Option<PathBuf>,
    /// The key-encryption key(s) themselves, comma-separated (wins over `kek_file`).
    pub kek: Option<Secret>,
    /// Audit signs a checkpoint of every tenant's chain that grew at least
    /// this often (seconds): events newer than the last checkpoint are the
    /// ones a database writer could still rewrite unseen.
    pub audit_checkpoint_secs: u64,
    /// ... and as soon as one tenant has this many events past its last one.
    pub audit_checkpoint_events: u64,
    /// Audit's witness: a folder, outside the database, where every signed
    /// checkpoint is appended (one JSON-lines file per tenant);
    /// `<data_dir>/witness` when unset. Put it on storage the database's
    /// users cannot write.
    pub audit_witness_dir: Option<PathBuf>,
    /// SMTP URL for lettre; mail goes to `.eml` files when unset.
    pub smtp_url: Option<Secret>,
    /// The From address of notifications.
    pub mail_from: String,
    /// Identity service.
    pub identity: ServiceConfig,
    /// Broker service.
    pub broker: ServiceConfig,
    /// Audit service.
    pub audit: ServiceConfig,
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
            operator_credentials_file: None,
            standing_max_staleness_secs: 30,
            grant_ending_notice_secs: 3600,
            kek_file: None,
            kek: None,
            audit_checkpoint_secs: 10,
            audit_checkpoint_events: 1000,
            audit_witness_dir: None,
            smtp_url: None,
            mail_from: "Keyholder <keyholder@localhost>".into(),
            identity: ServiceConfig::with_port(50051),
            broker: ServiceConfig::with_port(50052),
            audit: ServiceConfig::with_port(50053),
        }
    }
}

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
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The settings of one service.
    pub fn service(&self, name: ServiceName) -> &ServiceConfig {
        match name {
            ServiceName::Identity => &self.identity,
            ServiceName::Broker => &self.broker,
            ServiceName::Audit => &self.audit,
        }
    }

    /// The database URL of a service: the configured one, or an SQLite file
    /// `<data_dir>/<service>.db`.
    pub fn database_url(&self, name: ServiceName) -> Secret {
        match &self.service(name).database_url {
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
        self.service(name)
            .credentials_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(format!("{}.credentials", name.as_str())))
    }

    /// The operator's credentials file.
    pub fn operator_credentials_file(&self) -> PathBuf {
        self.operator_credentials_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("operator.credentials"))
    }

    /// Where `keyholder up` keeps the key-encryption key it generates.
    pub fn default_kek_file(&self) -> PathBuf {
        self.data_dir.join("keyholder.kek")
    }

    /// How often audit signs checkpoints (at least 1 s).
    pub fn audit_checkpoint_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.audit_checkpoint_secs.max(1))
    }

    /// Audit's witness folder.
    pub fn audit_witness_dir(&self) -> PathBuf {
        self.audit_witness_dir
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
            i64::try_from(self.grant_ending_notice_secs).unwrap_or(i64::MAX / 1000),
        )
    }

    /// The bound on a follower's last confirmed standing (at least 1 s).
    pub fn standing_max_staleness(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.standing_max_staleness_secs.max(1))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's own signature
mod tests {
    use super::*;

    #[test]
    fn defaults_env_and_file_layer_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "k.toml",
                "data_dir = \"/srv/kh\"\n[broker]\nlisten = \"0.0.0.0:6000\"\n",
            )?;
            jail.set_env("KEYHOLDER_IDENTITY__URL", "http://identity:50051");
            jail.set_env("KEYHOLDER_CONFIG", "ignored-by-extract");
            let cfg = Config::load_from(Some(Path::new("k.toml")), Env::prefixed("KEYHOLDER_"))
                .map_err(|e| e.to_string())?;
            assert_eq!(cfg.data_dir, PathBuf::from("/srv/kh"));
            assert_eq!(cfg.broker.listen.port(), 6000);
            assert_eq!(cfg.identity.url, "http://identity:50051");
            assert_eq!(cfg.identity.listen.port(), 50051);
            assert_eq!(
                cfg.database_url(ServiceName::Audit).expose(),
                "sqlite:///srv/kh/audit.db?mode=rwc"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYHOLDER_BROKER__LISTNE", "0.0.0.0:1");
            let err = Config::load_from(None, Env::prefixed("KEYHOLDER_"));
            assert!(matches!(err, Err(ConfigError::Invalid(m)) if m.contains("listne")));
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYHOLDER_SMTP_URL", "smtp://u:pa55word@mail:587");
            jail.set_env("KEYHOLDER_KEK", "a2VrLWtleS1ub3QtdG8tYmUtcHJpbnRlZA==");
            let cfg =
                Config::load_from(None, Env::prefixed("KEYHOLDER_")).map_err(|e| e.to_string())?;
            assert!(!format!("{cfg:?}").contains("pa55word"));
            assert!(!format!("{cfg:?}").contains("a2VrLWtleS1ub3Q"));
            Ok(())
        });
    }
}
