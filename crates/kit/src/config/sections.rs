//! One section per service (`[identity]`, `[broker]`, `[audit]`): the
//! settings every service has, then only that service's own.

use super::millis;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

            pub(super) fn endpoint(&self) -> Endpoint<'_> {
                Endpoint {
                    database_url: self.database_url.as_ref(),
                    credentials_file: self.credentials_file.as_deref(),
                }
            }
        }
    };
}

/// What every section shares and the suite reads by service name.
pub(super) struct Endpoint<'a> {
    pub(super) database_url: Option<&'a Secret>,
    pub(super) credentials_file: Option<&'a Path>,
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
    /// Rows claimed per batch (sent to audit in calls of at most 500).
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
