//! Rules about people: seats, partner limits, the integrators' 2FA deadline,
//! and the rules on appointing, dismissing and handing over that hold
//! whoever asks (the admin-only powers are capabilities). Failed sign-ins are
//! slowed by `throttle`; nobody is locked out.

use crate::domain::invitations::Invitation;
use crate::domain::random;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use keyholder_kit::auth::{Principal, PrincipalKind};
use keyholder_rights::Capability;

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
    deadline: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    kind == PrincipalKind::Integrator && !totp_enabled && deadline.is_some_and(|d| now > d)
}

/// A person who signs in: an employee, an integrator, a support agent or the
/// operator (service accounts are not users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub user_id: String,
    /// The tenant, or empty for support agents and the operator.
    pub tenant_id: String,
    /// Normalised e-mail, unique within the tenant.
    pub email: String,
    /// Name shown to people.
    pub display_name: String,
    /// Kind.
    pub kind: PrincipalKind,
    /// Holds the admin role.
    pub admin: bool,
    /// Not deactivated.
    pub active: bool,
    /// Argon2 hash of the password.
    pub password_hash: String,
    /// The TOTP secret (sealed), once TOTP is on.
    pub totp_secret: Option<String>,
    /// TOTP is required at sign-in.
    pub totp_enabled: bool,
    /// The secret (sealed) of an enrolment in progress.
    pub totp_pending: Option<String>,
    /// An integrator's partner.
    pub partner_id: Option<String>,
    /// When an integrator without 2FA loses all but enrolment.
    pub totp_deadline: Option<DateTime<Utc>>,
    /// The TOTP time step last accepted (codes of it or earlier are spent).
    pub totp_last_step: Option<i64>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// Who a new user is, before the rules of their kind apply.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Normalised e-mail.
    pub email: String,
    /// Name shown to people.
    pub display_name: String,
    /// Argon2 hash of the chosen password.
    pub password_hash: String,
}

impl NewUser {
    fn user(
        self,
        user_id: String,
        tenant_id: &str,
        kind: PrincipalKind,
        now: DateTime<Utc>,
    ) -> User {
        User {
            user_id,
            tenant_id: tenant_id.to_string(),
            email: self.email,
            display_name: self.display_name,
            kind,
            admin: false,
            active: true,
            password_hash: self.password_hash,
            totp_secret: None,
            totp_enabled: false,
            totp_pending: None,
            partner_id: None,
            totp_deadline: None,
            totp_last_step: None,
            created_at: now,
        }
    }

    /// An employee of `tenant_id`, not an admin, without 2FA.
    pub fn employee(self, tenant_id: &str, now: DateTime<Utc>) -> User {
        self.user(random::id(), tenant_id, PrincipalKind::Employee, now)
    }

    /// The first employee of a new tenant: its chief admin.
    pub fn chief_admin(self, tenant_id: &str, now: DateTime<Utc>) -> User {
        User {
            admin: true,
            ..self.employee(tenant_id, now)
        }
    }

    /// The integrator who accepted `inv` (as `user_id`, the id the invitation
    /// records): of its tenant and partner, with 2FA due ten days from the
    /// invitation, not from the acceptance.
    pub fn integrator(self, user_id: String, inv: &Invitation, now: DateTime<Utc>) -> User {
        User {
            partner_id: Some(inv.partner_id.clone()),
            totp_deadline: Some(totp_deadline(inv.created_at)),
            ..self.user(user_id, &inv.tenant_id, PrincipalKind::Integrator, now)
        }
    }

    /// A support agent (of no tenant). TOTP is mandatory for agents: on from
    /// the start, with `sealed` (the secret, sealed for this user's id).
    pub fn support_agent(
        self,
        now: DateTime<Utc>,
        sealed: impl FnOnce(&str) -> Result<String>,
    ) -> Result<User> {
        let mut u = self.user(random::id(), "", PrincipalKind::SupportAgent, now);
        u.totp_secret = Some(sealed(&u.user_id)?);
        u.totp_enabled = true;
        Ok(u)
    }

    /// The operator (of no tenant).
    pub fn operator(self, now: DateTime<Utc>) -> User {
        self.user(random::id(), "", PrincipalKind::Operator, now)
    }
}

impl User {
    /// What the rules need to know about this user being changed; `chief`
    /// comes from the tenant.
    pub fn target(&self, chief: bool) -> Target {
        Target {
            kind: self.kind,
            admin: self.admin,
            chief,
            active: self.active,
        }
    }

    /// Past the 2FA deadline without 2FA at `now`?
    pub fn totp_overdue(&self, now: DateTime<Utc>) -> bool {
        totp_overdue(self.kind, self.totp_enabled, self.totp_deadline, now)
    }

    /// The 2FA deadline a re-hire at `now` sets: a fresh ten days for an
    /// integrator still without 2FA, none otherwise.
    pub fn rehire_deadline(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.kind == PrincipalKind::Integrator && !self.totp_enabled).then(|| totp_deadline(now))
    }

    /// An active administrator employee (may withdraw any invitation)?
    pub fn is_active_admin_employee(&self) -> bool {
        self.kind == PrincipalKind::Employee && self.admin && self.active
    }
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

/// May the target be appointed (`grant`) or dismissed as admin? Only
/// employees can be admins, and the chief admin is never dismissed. Whether
/// the caller may appoint at all is [`Capability::AppointAdmins`], asked by
/// the handler.
pub fn check_set_admin(target: &Target, grant: bool) -> Result<()> {
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

/// May `actor` deactivate (dismiss) `target`? Dismissing an administrator
/// takes [`Capability::AppointAdmins`].
pub fn check_deactivate(actor: &Principal, target: &Target) -> Result<()> {
    if target.chief {
        return Err(Error::precondition(
            "the chief admin cannot be deactivated; transfer ownership first",
        ));
    }
    if target.admin && !actor.holds(Capability::AppointAdmins) {
        return Err(Error::denied(format!(
            "{} may not deactivate administrators: only an employee administrator may dismiss one",
            actor.standing().plural()
        )));
    }
    if target.kind == PrincipalKind::Operator {
        return Err(Error::precondition("the operator cannot be deactivated"));
    }
    Ok(())
}

/// May the tenant pass from `actor` to `target`? Only the chief admin hands
/// over, only to an active admin employee other than themself. The caller
/// already holds [`Capability::TransferOwnership`] (asked by the handler).
pub fn check_transfer(actor: &Principal, target: &Target, same_user: bool) -> Result<()> {
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
            version: 0,
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
        let deadline = totp_deadline(t0());
        assert_eq!(deadline - t0(), Duration::days(10));
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

    fn person() -> NewUser {
        NewUser {
            email: "ann@acme.example".into(),
            display_name: "Ann".into(),
            password_hash: "h".into(),
        }
    }

    #[test]
    fn each_kind_of_user_starts_by_its_rules() {
        let e = person().employee("t", t0());
        assert_eq!(
            (e.kind, e.admin, e.active),
            (PrincipalKind::Employee, false, true)
        );
        assert_eq!((e.tenant_id.as_str(), e.created_at), ("t", t0()));
        let chief = person().chief_admin("t", t0());
        assert!(chief.admin && chief.target(true).chief);
        let (inv, _) = crate::domain::invitations::Invitation::create(
            crate::domain::invitations::NewInvitation {
                tenant_id: "t".into(),
                partner_id: "p".into(),
                email: "ann@acme.example".into(),
                display_name: "Ann".into(),
                inviter_id: "boss".into(),
            },
            t0(),
        )
        .unwrap();
        // Accepted three days later: 2FA is still due ten days from the invitation.
        let i = person().integrator("u1".into(), &inv, t0() + Duration::days(3));
        assert_eq!(i.user_id, "u1");
        assert_eq!(i.partner_id.as_deref(), Some("p"));
        assert_eq!(i.totp_deadline, Some(t0() + Duration::days(10)));
        assert!(!i.totp_overdue(t0() + Duration::days(10)));
        assert!(i.totp_overdue(t0() + Duration::days(11)));
        assert_eq!(i.rehire_deadline(t0()), Some(t0() + Duration::days(10)));
        let agent = person()
            .support_agent(t0(), |id| Ok(format!("sealed-for-{id}")))
            .unwrap();
        assert!(agent.totp_enabled && agent.tenant_id.is_empty());
        assert_eq!(
            agent.totp_secret,
            Some(format!("sealed-for-{}", agent.user_id))
        );
        assert_eq!(agent.rehire_deadline(t0()), None);
        assert_eq!(person().operator(t0()).kind, PrincipalKind::Operator);
    }

    #[test]
    fn admin_minus_refusals() {
        let integ = actor(PrincipalKind::Integrator, false);
        let admin = actor(PrincipalKind::Employee, false);
        let chief = actor(PrincipalKind::Employee, true);
        let emp = target(PrincipalKind::Employee, false, false);
        let adm = target(PrincipalKind::Employee, true, false);
        let owner = target(PrincipalKind::Employee, true, true);
        assert!(check_set_admin(&emp, true).is_ok());
        assert!(matches!(
            check_set_admin(&owner, false),
            Err(Error::FailedPrecondition(_))
        ));
        let refused = check_deactivate(&integ, &adm);
        assert!(matches!(refused, Err(Error::PermissionDenied(_))));
        let m = refused.unwrap_err().to_string();
        assert!(
            m.contains("integrators may not deactivate administrators"),
            "{m}"
        );
        assert!(check_deactivate(&integ, &emp).is_ok());
        assert!(check_deactivate(&admin, &adm).is_ok());
        assert!(matches!(
            check_deactivate(&admin, &owner),
            Err(Error::FailedPrecondition(_))
        ));
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
        assert!(check_set_admin(&integ_target, true).is_err());
    }
}
