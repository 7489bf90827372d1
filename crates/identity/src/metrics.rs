//! Identity's own gauges, read from its database while metrics are served.

use keyholder_kit::metrics::{Metrics, Reading, SqlGauge};

/// The outbox of events for audit: depth, age of the oldest, set aside.
pub fn gauges(m: &Metrics) -> Vec<SqlGauge> {
    vec![
        m.sql_gauge(
            "keyholder_outbox_pending",
            "Events waiting for delivery to audit",
            "SELECT COUNT(*) FROM identity_outbox WHERE delivered_at_us IS NULL AND dead_at_us IS NULL",
            Reading::Value,
        ),
        m.sql_gauge(
            "keyholder_outbox_oldest_age_seconds",
            "Age of the oldest event waiting for delivery to audit",
            "SELECT MIN(created_at_us) FROM identity_outbox WHERE delivered_at_us IS NULL AND dead_at_us IS NULL",
            Reading::AgeOf {
                per_second: 1_000_000,
            },
        ),
        m.sql_gauge(
            "keyholder_outbox_rejected",
            "Events given up (refused by audit, or out of attempts), set aside for an operator",
            "SELECT COUNT(*) FROM identity_outbox WHERE dead_at_us IS NOT NULL",
            Reading::Value,
        ),
    ]
}
