//! When a grant's "ending soon" notice is due: a configured time before its
//! end, once per end.

use chrono::{DateTime, Duration, Utc};

/// The notice's default lead time.
pub const DEFAULT_NOTICE: Duration = Duration::hours(1);

/// Whether the notice for a grant from `created` to `end` is due at `now`,
/// `notice` before the end. A grant no longer than the notice gets none: the
/// approval mail already said it ends within that time.
pub fn notice_due(
    created: DateTime<Utc>,
    end: DateTime<Utc>,
    notice: Duration,
    now: DateTime<Utc>,
) -> bool {
    end - created > notice && now >= end - notice && now < end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_within_the_last_hour_of_a_longer_grant_only() {
        let created = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let end = created + Duration::days(7);
        let hour = DEFAULT_NOTICE;
        let due = |now| notice_due(created, end, hour, now);
        assert!(!due(created));
        assert!(!due(end - hour - Duration::seconds(1)));
        assert!(due(end - hour));
        assert!(due(end - Duration::seconds(1)));
        assert!(!due(end));
        // A 30-minute grant: its approval already said it ends within the hour.
        let short = created + Duration::minutes(30);
        assert!(!notice_due(
            created,
            short,
            hour,
            created + Duration::minutes(10)
        ));
    }
}
