//! Identity's own gauges, read from its database while metrics are served.

use keyholder_kit::metrics::{Metrics, Reading, SqlGauge};

/// The outbox of events for audit: depth, age of the oldest, set aside.
pub fn gauges(m: &Metrics) -> Vec<SqlGauge> {
    vec![
        m.sql_gauge(
            "keyholder_outbox_pending",
            "Events waiting for delivery to audit",
            "SELECT COUNT(*) FROM identity_outbox WHERE delivered_at IS NULL AND rejected_at IS NULL",
            Reading::Value,
        ),
        m.sql_gauge(
            "keyholder_outbox_oldest_age_seconds",
            "Age of the oldest event waiting for delivery to audit",
            "SELECT MIN(created_at) FROM identity_outbox WHERE delivered_at IS NULL AND rejected_at IS NULL",
            Reading::AgeOf { per_second: 1 },
        ),
        m.sql_gauge(
            "keyholder_outbox_rejected",
            "Events audit refused for good, set aside for an operator",
            "SELECT COUNT(*) FROM identity_outbox WHERE rejected_at IS NOT NULL",
            Reading::Value,
        ),
    ]
}
