//! Who must hear of which event, and how patiently to retry.

use super::event::Kind;
use chrono::Duration;

/// A group of recipients, resolved from identity's contacts when mail is prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The tenant's chief admin.
    ChiefAdmin,
    /// Every active admin of the tenant.
    Admins,
    /// The support agent the event is about.
    Agent,
    /// The admin who granted the access the event is about, while they are
    /// still an active admin of the tenant.
    GrantedBy,
    /// The person an invitation is for. Their e-mail is rendered when the
    /// event arrives (it carries a token that is never stored with the
    /// event), so no job is left to resolve for them.
    Invitee,
}

impl Audience {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::ChiefAdmin => "chief_admin",
            Audience::Admins => "admins",
            Audience::Agent => "agent",
            Audience::GrantedBy => "granted_by",
            Audience::Invitee => "invitee",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Audience> {
        [
            Audience::ChiefAdmin,
            Audience::Admins,
            Audience::Agent,
            Audience::GrantedBy,
            Audience::Invitee,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// Who is e-mailed about an event of this kind, through a job resolved later
/// (INTEGRATOR_INVITED mails its invitee at once instead: see
/// `invitation_mail`).
pub fn audiences(kind: Kind) -> &'static [Audience] {
    match kind {
        Kind::SignIn => &[Audience::ChiefAdmin],
        Kind::RequestCreated | Kind::RequestExpiring | Kind::GrantExpired | Kind::GrantRevoked => {
            &[Audience::Admins]
        }
        Kind::RequestApproved | Kind::RequestDenied | Kind::GrantExtended => {
            &[Audience::Admins, Audience::Agent]
        }
        // The admins see a lapsed request in the record (ListEvents), not by mail.
        Kind::RequestExpired => &[Audience::Agent],
        Kind::GrantEnding => &[Audience::Agent, Audience::GrantedBy],
        _ => &[],
    }
}

/// How a failed attempt (to resolve recipients or to send) is classed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth retrying until it works: connection refused, timeouts, 4xx,
    /// identity unavailable, a misconfiguration an operator can fix. Mail must
    /// survive an outage of any length, so these never give up.
    Transient,
    /// The mail server rejected the message for good (5xx, e.g. 550 unknown
    /// mailbox). Believed only after [`REJECTED_ATTEMPTS`] answers and
    /// [`REJECTED_WINDOW`] since the mail was queued, since a misconfigured
    /// relay can answer 5xx to every message until an operator fixes it.
    Rejected,
    /// Retrying cannot change the outcome: an address that does not parse, a
    /// tenant identity does not know, an unreadable event.
    Hopeless,
}

/// Attempts at least, before a [`FailureKind::Rejected`] e-mail is marked FAILED.
pub const REJECTED_ATTEMPTS: i32 = 3;

/// How long at least a [`FailureKind::Rejected`] e-mail keeps being retried,
/// counted from when it was queued, before it is marked FAILED.
pub const REJECTED_WINDOW: Duration = Duration::hours(24);

/// How long a notification may stay undelivered before each further failure
/// is logged as a warning (an operator should look at the mail server or identity).
pub const STALE_AFTER: Duration = Duration::hours(1);

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Try again after this wait.
    RetryAfter(Duration),
    /// Mark it FAILED; no more attempts.
    GiveUp,
}

/// What to do after `attempts` failed attempts, the last of kind `kind`, on a
/// mail queued `age` ago.
pub fn after_failure(kind: FailureKind, attempts: i32, age: Duration) -> NextStep {
    match kind {
        FailureKind::Transient => NextStep::RetryAfter(backoff(attempts)),
        FailureKind::Rejected if attempts < REJECTED_ATTEMPTS || age < REJECTED_WINDOW => {
            NextStep::RetryAfter(backoff(attempts))
        }
        FailureKind::Rejected | FailureKind::Hopeless => NextStep::GiveUp,
    }
}

/// Wait before attempt `attempts + 1`, after `attempts` failures: 15 s doubling,
/// at most an hour (15 s, 30 s, 1 min, 2 min, …, 1 h, 1 h, …).
pub fn backoff(attempts: i32) -> Duration {
    // The kit's one backoff rule (ADR 0017).
    const SCHEDULE: keyholder_kit::outbox::Backoff = keyholder_kit::outbox::Backoff::new(
        std::time::Duration::from_secs(15),
        std::time::Duration::from_secs(3600),
    );
    SCHEDULE.chrono_delay(u32::try_from(attempts).unwrap_or(0))
}

/// The stable Message-ID of a notification, so a resend after an ambiguous
/// failure is recognisable as the same message.
pub fn message_id(notification_id: &str) -> String {
    format!("<{notification_id}@keyholder>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_goes_to_the_chief_admin_decisions_also_to_the_agent() {
        assert_eq!(audiences(Kind::SignIn), &[Audience::ChiefAdmin]);
        assert_eq!(
            audiences(Kind::RequestDenied),
            &[Audience::Admins, Audience::Agent]
        );
        assert!(audiences(Kind::Action).is_empty());
        assert_eq!(
            audiences(Kind::GrantExtended),
            &[Audience::Admins, Audience::Agent]
        );
        assert_eq!(audiences(Kind::RequestExpired), &[Audience::Agent]);
        assert_eq!(
            audiences(Kind::GrantEnding),
            &[Audience::Agent, Audience::GrantedBy]
        );
        assert_eq!(Audience::parse("granted_by"), Some(Audience::GrantedBy));
        assert_eq!(Audience::parse("admins"), Some(Audience::Admins));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(15));
        assert_eq!(backoff(2), Duration::seconds(30));
        assert_eq!(backoff(3), Duration::seconds(60));
        assert_eq!(backoff(30), Duration::seconds(3600));
        assert_eq!(backoff(i32::MAX), Duration::seconds(3600));
    }

    #[test]
    fn transient_failures_never_give_up_rejections_do_after_a_day() {
        for attempts in [1, 8, 9, 100, 10_000] {
            assert!(matches!(
                after_failure(FailureKind::Transient, attempts, Duration::days(30)),
                NextStep::RetryAfter(_)
            ));
        }
        assert_eq!(
            after_failure(FailureKind::Transient, 100, Duration::zero()),
            NextStep::RetryAfter(Duration::hours(1))
        );
        assert_eq!(
            after_failure(FailureKind::Rejected, 1, Duration::zero()),
            NextStep::RetryAfter(Duration::seconds(15))
        );
        // Enough attempts, but not yet a day: keep trying.
        assert_eq!(
            after_failure(FailureKind::Rejected, 30, Duration::hours(23)),
            NextStep::RetryAfter(Duration::hours(1))
        );
        // A day old, but too few attempts: keep trying.
        assert!(matches!(
            after_failure(FailureKind::Rejected, 1, Duration::days(2)),
            NextStep::RetryAfter(_)
        ));
        assert_eq!(
            after_failure(FailureKind::Rejected, REJECTED_ATTEMPTS, REJECTED_WINDOW),
            NextStep::GiveUp
        );
        assert_eq!(
            after_failure(FailureKind::Hopeless, 1, Duration::zero()),
            NextStep::GiveUp
        );
    }
}
