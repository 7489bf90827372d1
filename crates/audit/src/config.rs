//! What audit takes from the suite's configuration: its own section
//! (`[audit]`) and the shared settings it needs, typed once here.

use keyholder_kit::config::{Config, ServiceName, millis};
use std::path::PathBuf;
use std::time::Duration;

/// Audit's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long audit keeps serving on a lost standing feed.
    pub standing_max_staleness: Duration,
    /// How long a tenant's contacts are reused.
    pub contacts_cache: Duration,
    /// How often the mailer looks for due mail when nothing woke it.
    pub mail_poll: Duration,
    /// Where signed checkpoints are witnessed.
    pub witness_dir: PathBuf,
    /// Grace for in-flight calls at shutdown.
    pub grace: Duration,
    /// Where metrics are served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Settings {
    /// Audit's part of `config`.
    pub fn of(config: &Config) -> Self {
        let own = &config.audit;
        Self {
            standing_max_staleness: config.standing_max_staleness(ServiceName::Audit),
            contacts_cache: Duration::from_secs(own.contacts_cache_secs),
            mail_poll: millis(own.mail_poll_ms),
            witness_dir: config.audit_witness_dir(),
            grace: config.shutdown_grace(),
            metrics_listen: own.metrics_listen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_reads_its_own_section() {
        let mut config = Config::default();
        config.audit.standing_max_staleness_secs = 5;
        config.broker.standing_max_staleness_secs = 99;
        config.audit.mail_poll_ms = 0;
        let s = Settings::of(&config);
        assert_eq!(s.standing_max_staleness, Duration::from_secs(5));
        // A zero interval would spin: at least a millisecond.
        assert_eq!(s.mail_poll, Duration::from_millis(1));
        assert_eq!(s.witness_dir, config.data_dir.join("witness"));
    }
}
