//! Audit's own gauges, read from its database while metrics are served.

use keyholder_kit::metrics::{Metrics, Reading, SqlGauge};

/// The mail queue and the freshness of the signed checkpoints.
pub fn gauges(m: &Metrics) -> Vec<SqlGauge> {
    vec![
        m.sql_gauge(
            "keyholder_mail_pending",
            "Mails waiting to be sent",
            "SELECT COUNT(*) FROM audit_notifications WHERE state = 'pending'",
            Reading::Value,
        ),
        m.sql_gauge(
            "keyholder_mail_oldest_pending_age_seconds",
            "Age of the oldest mail waiting to be sent",
            "SELECT MIN(create_time_us) FROM audit_notifications WHERE state = 'pending'",
            Reading::AgeOf {
                per_second: 1_000_000,
            },
        ),
        m.sql_gauge(
            "keyholder_mail_sent",
            "Mails the SMTP server accepted",
            "SELECT COUNT(*) FROM audit_notifications WHERE state = 'sent'",
            Reading::Value,
        ),
        m.sql_gauge(
            "keyholder_mail_failed",
            "Mails given up on",
            "SELECT COUNT(*) FROM audit_notifications WHERE state = 'failed'",
            Reading::Value,
        ),
        m.sql_gauge(
            "keyholder_audit_checkpoint_age_seconds",
            "Age of the newest signed checkpoint of any tenant's log",
            "SELECT MAX(create_time_us) FROM audit_checkpoints",
            Reading::AgeOf {
                per_second: 1_000_000,
            },
        ),
    ]
}
