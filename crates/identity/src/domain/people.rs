//! Rules about people: seats, partner limits, the integrators' 2FA deadline,
//! sign-in lock-out, and what integrators ("admin-minus") may not do.

use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use keyholder_kit::auth::{Principal, PrincipalKind};

/// Failed sign-ins in a row that lock an account.
pub const MAX_FAILED_SIGN_INS: i64 = 5;
/// How long a lock-out lasts.
pub const LOCKOUT_MINUTES: i64 = 15;
/// Active integrators plus pending invitations one partner may have in one
/// tenant ("at most ten at once").
pub const INTEGRATORS_PER_PARTNER: u64 = 10;
/// Days an invited integrator has to turn on 2FA.
pub const INTEGRATOR_TOTP_GRACE_DAYS: i64 = 10;

/// Does this kind of user take a licensed seat? Only employees do.
pub fn counts_as_seat(kind: PrincipalKind) -> bool {
    kind == PrincipalKind::Employee
}

/// Refuses one more employee when every seat is taken.
pub fn check_seat_available(used: u64, limit: u64) -> Result<()> {
    if used >= limit {
        return Err(Error::precondition(format!(
            "seat limit reached: {used} of {limit} seats are in use; raise the plan's limit or deactivate an employee (integrators and support agents do not take seats)"
        )));
    }
    Ok(())
}

/// Refuses one more integrator (or invitation) from a partner at the limit;
/// `taken` counts active integrators and pending invitations.
pub fn check_partner_limit(taken: u64, partner_name: &str) -> Result<()> {
    if taken >= INTEGRATORS_PER_PARTNER {
        return Err(Error::precondition(format!(
            "partner {partner_name} already has {taken} active integrators and pending invitations in this tenant; at most {INTEGRATORS_PER_PARTNER} are allowed"
        )));
    }
    Ok(())
}

/// The time by which an integrator invited at `invited` must turn on 2FA.
pub fn totp_deadline(invited: DateTime<Utc>) -> DateTime<Utc> {
    invited + Duration::days(INTEGRATOR_TOTP_GRACE_DAYS)
}

/// Is an integrator past the 2FA deadline without 2FA?
pub fn totp_overdue(
    kind: PrincipalKind,
    totp_enabled: bool,
    deadline: Option<i64>,
    now: DateTime<Utc>,
) -> bool {
    kind == PrincipalKind::Integrator
        && !totp_enabled
        && deadline.is_some_and(|d| now.timestamp() > d)
}

/// Is the account locked at `now`?
pub fn is_locked(locked_until: Option<i64>, now: DateTime<Utc>) -> bool {
    locked_until.is_some_and(|t| now.timestamp() < t)
}

/// After one more failure: the new count and, when it reaches the limit, the
/// lock's end (the count then starts again).
pub fn after_failed_sign_in(failed_so_far: i64, now: DateTime<Utc>) -> (i64, Option<i64>) {
    let n = failed_so_far + 1;
    if n >= MAX_FAILED_SIGN_INS {
        (0, Some(lockout_until(now)))
    } else {
        (n, None)
    }
}

/// When a lock-out starting at `now` ends.
pub fn lockout_until(now: DateTime<Utc>) -> i64 {
    (now + Duration::minutes(LOCKOUT_MINUTES)).timestamp()
}

/// What the rules need to know about the user being changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Kind.
    pub kind: PrincipalKind,
    /// Holds the admin role.
    pub admin: bool,
    /// Is the chief admin.
    pub chief: bool,
    /// Not deactivated.
    pub active: bool,
}

/// May `actor` appoint (`grant`) or dismiss an admin? Integrators never; the
/// chief admin is never dismissed; only employees can be admins.
pub fn check_set_admin(actor: &Principal, target: &Target, grant: bool) -> Result<()> {
    if actor.kind == PrincipalKind::Integrator {
        return Err(Error::denied(
            "integrators may not appoint or dismiss administrators",
        ));
    }
    if target.kind != PrincipalKind::Employee {
        return Err(Error::precondition("only employees can be administrators"));
    }
    if !grant && target.chief {
        return Err(Error::precondition(
            "the chief admin cannot be dismissed as administrator; transfer ownership first",
        ));
    }
    if grant && !target.active {
        return Err(Error::precondition(
            "a deactivated user cannot be made administrator",
        ));
    }
    Ok(())
}

/// May `actor` deactivate (dismiss) `target`?
pub fn check_deactivate(actor: &Principal, target: &Target) -> Result<()> {
    if target.chief {
        return Err(Error::precondition(
            "the chief admin cannot be deactivated; transfer ownership first",
        ));
    }
    if actor.kind == PrincipalKind::Integrator && target.admin {
        return Err(Error::denied(
            "integrators may not deactivate administrators",
        ));
    }
    if target.kind == PrincipalKind::Operator {
        return Err(Error::precondition("the operator cannot be deactivated"));
    }
    Ok(())
}

/// May `actor` turn off someone's TOTP? Admin employees only.
pub fn check_disable_totp(actor: &Principal) -> Result<()> {
    if actor.kind == PrincipalKind::Integrator {
        return Err(Error::denied(
            "integrators may not turn off two-factor authentication",
        ));
    }
    Ok(())
}

/// May the tenant pass from `actor` to `target`? Only the chief admin hands
/// over, only to an active admin employee other than themself.
pub fn check_transfer(actor: &Principal, target: &Target, same_user: bool) -> Result<()> {
    if actor.kind == PrincipalKind::Integrator {
        return Err(Error::denied("integrators may not transfer ownership"));
    }
    if !actor.chief_admin {
        return Err(Error::denied("only the chief admin may transfer ownership"));
    }
    if same_user {
        return Err(Error::invalid("you are already the chief admin"));
    }
    if target.kind != PrincipalKind::Employee || !target.admin || !target.active {
        return Err(Error::precondition(
            "ownership can only pass to an active administrator employee of the tenant",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn actor(kind: PrincipalKind, chief: bool) -> Principal {
        Principal {
            id: "a".into(),
            kind,
            tenant_id: Some("t".into()),
            admin: true,
            chief_admin: chief,
            scopes: vec![],
            mfa: true,
            display_name: String::new(),
            email: String::new(),
        }
    }
    fn target(kind: PrincipalKind, admin: bool, chief: bool) -> Target {
        Target {
            kind,
            admin,
            chief,
            active: true,
        }
    }
    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn seats_count_only_employees() {
        assert!(counts_as_seat(PrincipalKind::Employee));
        assert!(!counts_as_seat(PrincipalKind::Integrator));
        assert!(!counts_as_seat(PrincipalKind::SupportAgent));
        assert!(check_seat_available(2, 3).is_ok());
        let e = check_seat_available(3, 3).unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(m) if m.contains("3 of 3")));
    }

    #[test]
    fn ten_integrators_per_partner() {
        assert!(check_partner_limit(9, "Acme").is_ok());
        assert!(matches!(
            check_partner_limit(10, "Acme"),
            Err(Error::FailedPrecondition(_))
        ));
    }

    #[test]
    fn integrator_2fa_deadline() {
        let deadline = totp_deadline(t0()).timestamp();
        assert_eq!(deadline - t0().timestamp(), 10 * 86_400);
        let k = PrincipalKind::Integrator;
        assert!(!totp_overdue(
            k,
            false,
            Some(deadline),
            t0() + Duration::days(10)
        ));
        assert!(totp_overdue(
            k,
            false,
            Some(deadline),
            t0() + Duration::days(10) + Duration::seconds(1)
        ));
        assert!(!totp_overdue(
            k,
            true,
            Some(deadline),
            t0() + Duration::days(30)
        ));
        assert!(!totp_overdue(
            PrincipalKind::Employee,
            false,
            Some(deadline),
            t0() + Duration::days(30)
        ));
    }

    #[test]
    fn lockout_after_five_failures_for_fifteen_minutes() {
        let mut n = 0;
        for _ in 0..4 {
            let (next, lock) = after_failed_sign_in(n, t0());
            assert!(lock.is_none());
            n = next;
        }
        let (_, lock) = after_failed_sign_in(n, t0());
        assert!(is_locked(lock, t0() + Duration::minutes(14)));
        assert!(!is_locked(lock, t0() + Duration::minutes(15)));
    }

    #[test]
    fn admin_minus_refusals() {
        let integ = actor(PrincipalKind::Integrator, false);
        let admin = actor(PrincipalKind::Employee, false);
        let chief = actor(PrincipalKind::Employee, true);
        let emp = target(PrincipalKind::Employee, false, false);
        let adm = target(PrincipalKind::Employee, true, false);
        let owner = target(PrincipalKind::Employee, true, true);
        assert!(matches!(
            check_set_admin(&integ, &emp, true),
            Err(Error::PermissionDenied(_))
        ));
        assert!(check_set_admin(&admin, &emp, true).is_ok());
        assert!(matches!(
            check_set_admin(&admin, &owner, false),
            Err(Error::FailedPrecondition(_))
        ));
        assert!(matches!(
            check_deactivate(&integ, &adm),
            Err(Error::PermissionDenied(_))
        ));
        assert!(check_deactivate(&integ, &emp).is_ok());
        assert!(matches!(
            check_deactivate(&admin, &owner),
            Err(Error::FailedPrecondition(_))
        ));
        assert!(check_disable_totp(&integ).is_err());
        assert!(check_disable_totp(&admin).is_ok());
        assert!(check_transfer(&integ, &adm, false).is_err());
        assert!(matches!(
            check_transfer(&admin, &adm, false),
            Err(Error::PermissionDenied(_))
        ));
        assert!(check_transfer(&chief, &adm, false).is_ok());
        assert!(matches!(
            check_transfer(&chief, &emp, false),
            Err(Error::FailedPrecondition(_))
        ));
        let integ_target = target(PrincipalKind::Integrator, false, false);
        assert!(check_set_admin(&admin, &integ_target, true).is_err());
    }
}
