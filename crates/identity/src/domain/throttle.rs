//! Sign-in throttling: growing delays between wrong guesses, per account and
//! per source, instead of a lock-out a stranger could trigger.
//!
//! A counter holds the failed guesses in a row and when the last one came.
//! The first few cost nothing; after that each guess must wait a delay that
//! doubles with every further failure, up to a cap. A guess made while a
//! delay is in force is refused without looking at the password and is not
//! counted, so hammering never makes the wait longer. The account counter is
//! keyed by a hash of (tenant, e-mail) whether or not the e-mail exists, so
//! its answers cannot tell the two apart.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// How one kind of counter (account or source) slows guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures in a row that cost no delay.
    pub free: i64,
    /// The longest delay between two guesses, in seconds.
    pub max_delay_secs: i64,
    /// A counter quiet this long (seconds) starts again from zero.
    pub forget_after_secs: i64,
}

/// Per account: a person who mistypes three times waits a second, then two…
pub const ACCOUNT: Policy = Policy {
    free: 3,
    max_delay_secs: 60,
    forget_after_secs: 15 * 60,
};

/// Per source address: higher, since one office or NAT shares an address,
/// but it slows one machine spraying a password across many accounts.
pub const SOURCE: Policy = Policy {
    free: 10,
    max_delay_secs: 60,
    forget_after_secs: 15 * 60,
};

/// Failed guesses in a row and when the last one came. Delays are judged
/// in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures in a row.
    pub failures: i64,
    /// When the last failure came.
    pub last_failure_at: DateTime<Utc>,
}

impl Policy {
    /// The counter as it stands at `now`: forgotten after a quiet spell.
    pub fn current(&self, stored: Option<Counter>, now: DateTime<Utc>) -> Option<Counter> {
        stored.filter(|c| now.timestamp() - c.last_failure_at.timestamp() < self.forget_after_secs)
    }

    /// The delay owed after `failures` failures in a row: none while free,
    /// then 1 s, 2 s, 4 s … up to the cap.
    pub fn delay_after(&self, failures: i64) -> i64 {
        let over = failures - self.free;
        if over < 0 {
            return 0;
        }
        // Stop shifting at 2^20: far past any sensible cap, far from overflow.
        let doubled = 1i64 << over.min(20);
        doubled.min(self.max_delay_secs)
    }

    /// Seconds before the next guess is heard (0: at once). Never more than
    /// the delay itself: a last failure stamped in the future (a replica
    /// whose clock runs ahead, a clock set back) must not stretch the wait.
    pub fn wait(&self, stored: Option<Counter>, now: DateTime<Utc>) -> i64 {
        self.current(stored, now).map_or(0, |c| {
            let delay = self.delay_after(c.failures);
            (c.last_failure_at.timestamp() + delay - now.timestamp()).clamp(0, delay)
        })
    }

    /// The counter once one more failure at `now` is counted.
    pub fn after_failure(&self, stored: Option<Counter>, now: DateTime<Utc>) -> Counter {
        let failures = self.current(stored, now).map_or(0, |c| c.failures);
        Counter {
            failures: failures + 1,
            last_failure_at: now,
        }
    }

    /// Did this failure (the counter after it) start the delays? Used to
    /// report an account under attack once per episode, not at every guess.
    pub fn delays_start_at(&self, after: Counter) -> bool {
        after.failures == self.free
    }
}

/// The two counters a sign-in attempt is judged by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// The caller's source address.
    pub source: Option<Counter>,
    /// The (tenant, e-mail) signed in to.
    pub account: Option<Counter>,
}

/// Whether a sign-in attempt is heard now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the credentials.
    Hear,
    /// Refuse without checking; the caller may try again in this many seconds.
    Wait(i64),
}

/// Judges an attempt at `now` by the longer of the two delays.
///
/// A `Wait` is overridden by one proof only: a valid, unspent TOTP code of
/// the account, which no stranger has, spent before the password is looked
/// at. So failures caused by others never keep a TOTP user out, and the
/// spent code still limits guessing to one password per 30-second step.
pub fn judge(counters: Counters, now: DateTime<Utc>) -> Verdict {
    let wait = SOURCE
        .wait(counters.source, now)
        .max(ACCOUNT.wait(counters.account, now));
    if wait > 0 {
        Verdict::Wait(wait)
    } else {
        Verdict::Hear
    }
}

/// What becomes of an attempt, judged on the counters as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refused without checking (unless the owner's fresh TOTP code
    /// overrides it); the caller may try again in this many seconds.
    Wait(i64),
    /// Heard, and counted as a failure up front (undone if it turns out not
    /// to be one): the counters become these.
    Count {
        /// The source's counter after this attempt.
        source: Counter,
        /// The account's counter after this attempt.
        account: Counter,
    },
}

/// The sign-in rule: an attempt at `now`, against the counters `seen`,
/// waits out the longer delay or is heard and counted.
pub fn decide(seen: Counters, now: DateTime<Utc>) -> Decision {
    match judge(seen, now) {
        Verdict::Wait(secs) => Decision::Wait(secs),
        Verdict::Hear => Decision::Count {
            source: SOURCE.after_failure(seen.source, now),
            account: ACCOUNT.after_failure(seen.account, now),
        },
    }
}

/// Counters quiet since before this instant are forgotten by every policy
/// (the store may prune them).
pub fn forget_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::seconds(ACCOUNT.forget_after_secs.max(SOURCE.forget_after_secs))
}

/// The counter key of a source address. IPv6 hosts get a whole /64, so the
/// key is the /64; an IPv4-mapped address counts as the IPv4 one. Without a
/// known address every such caller shares one key.
pub fn source_key(addr: Option<IpAddr>) -> String {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(v4)) => format!("src:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("src:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "src:unknown".into(),
    }
}

/// The counter key of a (tenant, normalised e-mail), known user or not. A
/// hash, so probed e-mails are not stored in the clear.
pub fn account_key(tenant_id: &str, email: &str) -> String {
    let mut h = Sha256::new();
    h.update(tenant_id.as_bytes());
    h.update([0]);
    h.update(email.as_bytes());
    format!("acct:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// Fails `n` times at `now` through the policy, as the service would.
    fn fail(p: &Policy, mut c: Option<Counter>, n: usize, now: DateTime<Utc>) -> Option<Counter> {
        for _ in 0..n {
            c = Some(p.after_failure(c, now));
        }
        c
    }

    #[test]
    fn delays_are_free_then_double_up_to_the_cap() {
        let d: Vec<i64> = (0..12).map(|n| ACCOUNT.delay_after(n)).collect();
        assert_eq!(d, vec![0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(ACCOUNT.delay_after(i64::MAX), 60);
        assert_eq!(SOURCE.delay_after(9), 0);
        assert_eq!(SOURCE.delay_after(10), 1);
    }

    #[test]
    fn the_fourth_guess_waits_and_is_heard_when_the_delay_is_over() {
        let c = fail(&ACCOUNT, None, 3, t0());
        let counters = Counters {
            source: None,
            account: c,
        };
        assert_eq!(judge(counters, t0()), Verdict::Wait(1));
        let later = t0() + Duration::seconds(1);
        assert_eq!(judge(counters, later), Verdict::Hear);
        let c = fail(&ACCOUNT, c, 1, later);
        let counters = Counters {
            source: None,
            account: c,
        };
        assert_eq!(judge(counters, later), Verdict::Wait(2));
        assert_eq!(
            judge(counters, later + Duration::seconds(1)),
            Verdict::Wait(1)
        );
    }

    #[test]
    fn the_wait_is_capped() {
        let counters = Counters {
            source: fail(&SOURCE, None, 50, t0()),
            account: fail(&ACCOUNT, None, 50, t0()),
        };
        assert_eq!(judge(counters, t0()), Verdict::Wait(60));
    }

    #[test]
    fn the_source_limit_spans_accounts() {
        let counters = Counters {
            source: fail(&SOURCE, None, 10, t0()),
            account: None,
        };
        assert_eq!(judge(counters, t0()), Verdict::Wait(1));
    }

    #[test]
    fn a_counter_from_the_future_waits_no_longer_than_its_delay() {
        let ahead = t0() + Duration::minutes(30);
        assert_eq!(ACCOUNT.wait(fail(&ACCOUNT, None, 2, ahead), t0()), 0);
        assert_eq!(ACCOUNT.wait(fail(&ACCOUNT, None, 5, ahead), t0()), 4);
    }

    #[test]
    fn a_quiet_counter_is_forgotten() {
        let c = fail(&ACCOUNT, None, 9, t0());
        let quiet = t0() + Duration::seconds(ACCOUNT.forget_after_secs);
        assert_eq!(ACCOUNT.current(c, quiet), None);
        assert_eq!(ACCOUNT.after_failure(c, quiet).failures, 1);
        assert_eq!(ACCOUNT.after_failure(c, t0()).failures, 10);
    }

    #[test]
    fn delays_start_once_per_episode() {
        let c = fail(&ACCOUNT, None, 2, t0());
        assert!(ACCOUNT.delays_start_at(ACCOUNT.after_failure(c, t0())));
        let c = fail(&ACCOUNT, c, 1, t0());
        assert!(!ACCOUNT.delays_start_at(ACCOUNT.after_failure(c, t0())));
    }

    #[test]
    fn decide_counts_an_attempt_it_hears_and_refuses_during_a_delay() {
        let seen = Counters {
            source: None,
            account: fail(&ACCOUNT, None, 2, t0()),
        };
        let Decision::Count { source, account } = decide(seen, t0()) else {
            panic!("the third failure is free");
        };
        assert_eq!(source.failures, 1);
        assert_eq!(account.failures, 3);
        assert!(ACCOUNT.delays_start_at(account));
        let seen = Counters {
            source: Some(source),
            account: Some(account),
        };
        assert_eq!(decide(seen, t0()), Decision::Wait(1));
        assert!(forget_before(t0()) < t0() - Duration::seconds(ACCOUNT.forget_after_secs - 1));
    }

    #[test]
    fn keys() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(source_key(Some(v4)), "src:203.0.113.7");
        assert_eq!(source_key(Some(mapped)), "src:203.0.113.7");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(source_key(Some(a)), source_key(Some(b)));
        assert_eq!(source_key(None), "src:unknown");
        let k = account_key("t1", "bob@acme.example");
        assert!(k.starts_with("acct:") && !k.contains("bob"));
        assert_ne!(k, account_key("t2", "bob@acme.example"));
        assert_ne!(account_key("a", "bc"), account_key("ab", "c"));
    }
}
