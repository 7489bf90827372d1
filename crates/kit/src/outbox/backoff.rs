//! Exponential backoff: `base`, `2·base`, `4·base` … capped at `max`. One
//! rule for every queue (the relay, webhooks, mail), so a retry schedule is
//! read in one place.

use std::time::Duration;

/// A doubling delay with a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// A schedule from `base` doubling up to `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The wait after the `failures`-th failure in a row (1 → `base`; 0 is
    /// treated as 1).
    pub fn delay(&self, failures: u32) -> Duration {
        // 2^31 · base overflows any useful Duration; stop doubling earlier.
        let exp = failures.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exp)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// [`Self::delay`] as a chrono duration, for adding to stored instants.
    pub fn chrono_delay(&self, failures: u32) -> chrono::Duration {
        chrono::Duration::from_std(self.delay(failures)).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_base_up_to_the_ceiling() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(2), Duration::from_secs(2));
        assert_eq!(b.delay(4), Duration::from_secs(8));
        assert_eq!(b.delay(10), Duration::from_secs(300));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn a_huge_base_saturates_at_the_ceiling() {
        let b = Backoff::new(Duration::MAX, Duration::from_secs(5));
        assert_eq!(b.delay(3), Duration::from_secs(5));
        assert_eq!(b.chrono_delay(3), chrono::Duration::seconds(5));
    }
}
