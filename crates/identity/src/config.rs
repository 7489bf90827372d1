//! What identity takes from the suite's configuration: its own section
//! (`[identity]`) and the shared settings it needs, typed once here so the
//! rest of the crate never reads raw numbers.

use keyholder_kit::config::{Config, hours, millis};
use keyholder_kit::outbox::RelayOptions;
use std::time::Duration;

/// Identity's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the standing feed looks for other replicas' changes.
    pub standing_poll: Duration,
    /// How long answers to retry-safe calls are kept.
    pub request_id_retention: chrono::Duration,
    /// How the outbox is relayed to audit.
    pub outbox: RelayOptions,
    /// Grace for in-flight calls at shutdown.
    pub grace: Duration,
    /// Where metrics are served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Settings {
    /// Identity's part of `config`.
    pub fn of(config: &Config) -> Self {
        let own = &config.identity;
        Self {
            standing_poll: millis(own.standing_poll_ms),
            request_id_retention: hours(own.request_id_retention_hours),
            outbox: own.outbox.relay_options(),
            grace: config.shutdown_grace(),
            metrics_listen: own.metrics_listen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_reads_its_own_section() {
        let mut config = Config::default();
        config.identity.standing_poll_ms = 250;
        config.identity.outbox.max_attempts = 3;
        config.broker.request_id_retention_hours = 1;
        let s = Settings::of(&config);
        assert_eq!(s.standing_poll, Duration::from_millis(250));
        assert_eq!(s.outbox.max_attempts, 3);
        // Broker's setting is broker's.
        assert_eq!(s.request_id_retention, chrono::Duration::hours(24));
    }
}
