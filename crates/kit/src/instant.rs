//! How every service stores an instant: `i64` microseconds since the Unix
//! epoch, in a column whose name ends in `_us` (ADR 0016). Two functions so
//! no module picks its own unit again.

use chrono::{DateTime, Utc};

/// Why a stored instant cannot be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored instant {0} µs is outside the representable range")]
pub struct OutOfRange(pub i64);

/// The stored form of `t`.
pub fn to_stored(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant a stored value stands for.
pub fn from_stored(us: i64) -> Result<DateTime<Utc>, OutOfRange> {
    DateTime::from_timestamp_micros(us).ok_or(OutOfRange(us))
}

/// A stored length of time (a `_us` interval or offset).
pub fn duration_to_stored(d: chrono::Duration) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_to_the_microsecond() {
        let t = DateTime::from_timestamp(1_790_000_000, 123_456_000).unwrap_or_default();
        assert_eq!(to_stored(t), 1_790_000_000_123_456);
        assert_eq!(from_stored(to_stored(t)), Ok(t));
    }

    #[test]
    fn refuses_what_chrono_cannot_hold() {
        assert_eq!(from_stored(i64::MAX), Err(OutOfRange(i64::MAX)));
    }

    #[test]
    fn durations_saturate_instead_of_wrapping() {
        assert_eq!(duration_to_stored(chrono::Duration::seconds(2)), 2_000_000);
        assert_eq!(duration_to_stored(chrono::Duration::MAX), i64::MAX);
    }
}
