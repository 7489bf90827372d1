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

/// Declares one service's section: the settings every service has (where it
/// listens, its database, where it is reached, its credentials and metrics)
/// and then its own, each with its default.
macro_rules! service_section {
    (
        $(#[$meta:meta])*
        $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident: $ty:ty = $default:expr,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        // A section given only in part keeps the other defaults.
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            /// Address to listen on.
            pub listen: SocketAddr,
            /// Database URL; an SQLite file under the data dir when unset.
            pub database_url: Option<Secret>,
            /// Where this service is reached: the other services and the
            /// `keyholder` CLI call it here (`KEYHOLDER_BROKER__URL`, …).
            pub url: String,
            /// Service-account credentials file for calling the other
            /// services; `<data_dir>/<service>.credentials` when unset.
            pub credentials_file: Option<PathBuf>,
            /// Where to serve Prometheus metrics (`GET /metrics`); off when unset.
            pub metrics_listen: Option<SocketAddr>,
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $name {
            fn on_port(port: u16) -> Self {
                Self {
                    listen: SocketAddr::from(([127, 0, 0, 1], port)),
                    database_url: None,
                    url: format!("http://127.0.0.1:{port}"),
                    credentials_file: None,
                    metrics_listen: None,
                    $($field: $default,)*
                }
            }

            fn endpoint(&self) -> Endpoint<'_> {
                Endpoint {
                    database_url: self.database_url.as_ref(),
                    credentials_file: self.credentials_file.as_deref(),
                }
            }
        }
    };
}

/// What every section shares and the suite reads by service name.
struct Endpoint<'a> {
    database_url: Option<&'a Secret>,
    credentials_file: Option<&'a Path>,
}

service_section! {
    /// Identity's settings (`[identity]`, `KEYHOLDER_IDENTITY__*`).
    IdentityConfig {
        /// The operator's credentials file (e-mail and password), written on
        /// identity's first start unless it exists; on Kubernetes a Secret.
        /// `<data_dir>/operator.credentials` when unset.
        operator_credentials_file: Option<PathBuf> = None,
        /// How often the standing feed looks for changes to push (ms).
        standing_poll_ms: u64 = 500,
        /// Hours a retry-safe call's answer is kept for its retries.
        request_id_retention_hours: u64 = 24,
        /// The relay of identity's events to audit (`[identity.outbox]`).
        outbox: OutboxConfig = OutboxConfig::default(),
    }
}

service_section! {
    /// Broker's settings (`[broker]`, `KEYHOLDER_BROKER__*`).
    BrokerConfig {
        /// Where broker takes helpdesk webhooks (`POST /webhooks/<connector>`);
        /// off when unset.
        webhook_listen: Option<SocketAddr> = None,
        /// Seconds before a grant's end that broker sends its "ending soon"
        /// notice (to the agent and the admin who granted it).
        grant_ending_notice_secs: u64 = 3600,
        /// Seconds broker keeps serving on its last confirmed copy of
        /// identity's standing feed after losing it; beyond that it refuses
        /// every call (fail closed) and reports NOT_SERVING until it is back.
        standing_max_staleness_secs: u64 = 30,
        /// How often expired requests and grants are swept (ms).
        sweep_interval_ms: u64 = 1000,
        /// How often revocations written by other replicas are read (ms).
        revocation_poll_ms: u64 = 500,
        /// How long CheckAccess trusts a cached session state before
        /// re-reading it (ms): the bound on staleness should every
        /// invalidation be missed.
        session_cache_ms: u64 = 1000,
        /// Session states kept in that cache at most.
        session_cache_capacity: u64 = 200_000,
        /// Hours a retry-safe call's answer is kept for its retries.
        request_id_retention_hours: u64 = 24,
        /// The relay of broker's events to audit (`[broker.outbox]`).
        outbox: OutboxConfig = OutboxConfig::default(),
    }
}

/// How a service relays its outbox (`KEYHOLDER_<SERVICE>__OUTBOX__*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Rows claimed per batch.
    pub batch: u64,
    /// How often to look for rows written by other replicas (ms); a local
    /// commit wakes the relay at once.
    pub poll_ms: u64,
    /// First wait after a failed delivery (ms), doubling up to `backoff_max_ms`.
    pub backoff_first_ms: u64,
    /// Longest wait between attempts (ms).
    pub backoff_max_ms: u64,
    /// Attempts after which a row is set aside as a dead letter.
    pub max_attempts: u32,
    /// How long a claim holds its rows (s): longer than a delivery takes.
    pub lease_secs: u64,
    /// How long delivered rows are kept before pruning (hours).
    pub retention_hours: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        let d = crate::outbox::RelayOptions::default();
        let ms = |x: std::time::Duration| u64::try_from(x.as_millis()).unwrap_or(u64::MAX);
        Self {
            batch: d.batch,
            poll_ms: ms(d.poll),
            backoff_first_ms: ms(d.backoff.base),
            backoff_max_ms: ms(d.backoff.max),
            max_attempts: d.max_attempts,
            lease_secs: d.lease.as_secs(),
            retention_hours: d.retention.as_secs() / 3600,
        }
    }
}

impl OutboxConfig {
    /// The relay's options.
    pub fn relay_options(&self) -> crate::outbox::RelayOptions {
        use std::time::Duration;
        crate::outbox::RelayOptions {
            batch: self.batch.max(1),
            poll: millis(self.poll_ms),
            backoff: crate::outbox::Backoff::new(
                millis(self.backoff_first_ms),
                millis(self.backoff_max_ms.max(self.backoff_first_ms)),
            ),
            max_attempts: self.max_attempts.max(1),
            lease: Duration::from_secs(self.lease_secs.max(1)),
            retention: Duration::from_secs(self.retention_hours.saturating_mul(3600)),
            ..crate::outbox::RelayOptions::default()
        }
    }
}

service_section! {
    /// Audit's settings (`[audit]`, `KEYHOLDER_AUDIT__*`).
    AuditConfig {
        /// Seconds audit keeps serving on its last confirmed copy of
        /// identity's standing feed after losing it (then fails closed).
        standing_max_staleness_secs: u64 = 30,
        /// Audit signs a checkpoint of every tenant's chain that grew at
        /// least this often (seconds): events newer than the last checkpoint
        /// are the ones a database writer could still rewrite unseen.
        checkpoint_secs: u64 = 10,
        /// ... and as soon as one tenant has this many events past its last one.
        checkpoint_events: u64 = 1000,
        /// Audit's witness: a folder, outside the database, where every
        /// signed checkpoint is appended (one JSON-lines file per tenant);
        /// `<data_dir>/witness` when unset. Put it on storage the database's
        /// users cannot write.
        witness_dir: Option<PathBuf> = None,
        /// SMTP URL for lettre; mail goes to `.eml` files when unset.
        smtp_url: Option<Secret> = None,
        /// The From address of notifications.
        mail_from: String = "Keyholder <keyholder@localhost>".into(),
        /// How often the mail worker looks for mail to send (ms).
        mail_poll_ms: u64 = 1000,
        /// Seconds a tenant's contacts (who gets mail) are cached.
        contacts_cache_secs: u64 = 30,
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self::on_port(50051)
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self::on_port(50052)
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self::on_port(50053)
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
    fn each_service_reads_its_own_section_and_old_names_say_where_they_went() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("k.toml", "[audit]\ncheckpoint_events = 7\n")?;
            jail.set_env("KEYHOLDER_BROKER__SWEEP_INTERVAL_MS", "250");
            let cfg = Config::load_from(Some(Path::new("k.toml")), Env::prefixed("KEYHOLDER_"))
                .map_err(|e| e.to_string())?;
            assert_eq!(cfg.audit.checkpoint_events, 7);
            // The rest of a partly given section keeps its defaults.
            assert_eq!(cfg.audit.checkpoint_secs, 10);
            assert_eq!(cfg.audit.listen.port(), 50053);
            assert_eq!(cfg.broker.sweep_interval_ms, 250);
            assert_eq!(cfg.identity.standing_poll_ms, 500);
            jail.clear_env();
            jail.set_env("KEYHOLDER_SMTP_URL", "smtp://mail:25");
            let err = Config::load_from(None, Env::prefixed("KEYHOLDER_"));
            let Err(ConfigError::Invalid(m)) = err else {
                return Err("an old top-level key must be refused".to_string().into());
            };
            assert!(
                m.contains("set audit.smtp_url, e.g. KEYHOLDER_AUDIT__SMTP_URL"),
                "{m}"
            );
            // A setting one service has is unknown in another's section.
            jail.clear_env();
            jail.set_env("KEYHOLDER_IDENTITY__SMTP_URL", "smtp://mail:25");
            assert!(Config::load_from(None, Env::prefixed("KEYHOLDER_")).is_err());
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYHOLDER_AUDIT__SMTP_URL", "smtp://u:pa55word@mail:587");
            jail.set_env("KEYHOLDER_KEK", "a2VrLWtleS1ub3QtdG8tYmUtcHJpbnRlZA==");
            let cfg =
                Config::load_from(None, Env::prefixed("KEYHOLDER_")).map_err(|e| e.to_string())?;
            assert!(!format!("{cfg:?}").contains("pa55word"));
            assert!(!format!("{cfg:?}").contains("a2VrLWtleS1ub3Q"));
            Ok(())
        });
    }
}
