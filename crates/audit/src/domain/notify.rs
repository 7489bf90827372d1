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
}

impl Audience {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::ChiefAdmin => "chief_admin",
            Audience::Admins => "admins",
            Audience::Agent => "agent",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Audience> {
        [Audience::ChiefAdmin, Audience::Admins, Audience::Agent]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// Who is e-mailed about an event of this kind.
pub fn audiences(kind: Kind) -> &'static [Audience] {
    match kind {
        Kind::SignIn => &[Audience::ChiefAdmin],
        Kind::RequestCreated | Kind::RequestExpiring | Kind::GrantExpired | Kind::GrantRevoked => {
            &[Audience::Admins]
        }
        Kind::RequestApproved | Kind::RequestDenied => &[Audience::Admins, Audience::Agent],
        _ => &[],
    }
}

/// Attempts before a notification is marked FAILED.
pub const MAX_ATTEMPTS: i32 = 8;

/// Wait before attempt `attempts + 1`, after `attempts` failures: 15 s doubling,
/// at most an hour (15 s, 30 s, 1 min, 2 min, …).
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let secs = 15_i64.saturating_mul(1_i64 << exp);
    Duration::seconds(secs.min(3600))
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
        assert_eq!(Audience::parse("admins"), Some(Audience::Admins));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(15));
        assert_eq!(backoff(2), Duration::seconds(30));
        assert_eq!(backoff(3), Duration::seconds(60));
        assert_eq!(backoff(30), Duration::seconds(3600));
    }
}
