//! What broker takes from the suite's configuration: its own section
//! (`[broker]`) and the shared settings it needs, typed once here.

use keyholder_kit::config::{Config, ServiceName, hours, millis};
use keyholder_kit::outbox::RelayOptions;
use std::net::SocketAddr;
use std::time::Duration;

/// Broker's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long before a grant's end its "ending soon" notice goes out.
    pub grant_ending_notice: chrono::Duration,
    /// How long broker keeps serving on a lost standing feed.
    pub standing_max_staleness: Duration,
    /// How often expired requests and grants are swept.
    pub sweep_every: Duration,
    /// How often other replicas' revocations are read.
    pub revocation_poll: Duration,
    /// How long CheckAccess trusts a cached session state.
    pub session_cache: Duration,
    /// Session states cached at most.
    pub session_cache_capacity: u64,
    /// How long answers to retry-safe calls are kept.
    pub request_id_retention: chrono::Duration,
    /// How the outbox is relayed to audit.
    pub outbox: RelayOptions,
    /// Where helpdesk webhooks are taken, if anywhere.
    pub webhook_listen: Option<SocketAddr>,
    /// Where metrics are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Grace for in-flight calls at shutdown.
    pub grace: Duration,
}

impl Settings {
    /// Broker's part of `config`.
    pub fn of(config: &Config) -> Self {
        let own = &config.broker;
        Self {
            grant_ending_notice: config.grant_ending_notice(),
            standing_max_staleness: config.standing_max_staleness(ServiceName::Broker),
            sweep_every: millis(own.sweep_interval_ms),
            revocation_poll: millis(own.revocation_poll_ms),
            session_cache: millis(own.session_cache_ms),
            session_cache_capacity: own.session_cache_capacity.max(1),
            request_id_retention: hours(own.request_id_retention_hours),
            outbox: own.outbox.relay_options(),
            webhook_listen: own.webhook_listen,
            metrics_listen: own.metrics_listen,
            grace: config.shutdown_grace(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_reads_its_own_section() {
        let mut config = Config::default();
        config.broker.sweep_interval_ms = 200;
        config.broker.grant_ending_notice_secs = 60;
        config.audit.standing_max_staleness_secs = 1;
        let s = Settings::of(&config);
        assert_eq!(s.sweep_every, Duration::from_millis(200));
        assert_eq!(s.grant_ending_notice, chrono::Duration::seconds(60));
        // Audit's bound is audit's.
        assert_eq!(s.standing_max_staleness, Duration::from_secs(30));
    }
}
