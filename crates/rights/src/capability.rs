//! The powers only an employee administrator holds, who holds them, and the
//! one table of rights (as `Authorize` and support scopes name them) that
//! exercise each power.
//!
//! Handlers check a [`Capability`] where the power is used (SetAdmin asks for
//! [`Capability::AppointAdmins`]); they never match entity names.

use crate::right::Right;

/// A power reserved to employee administrators. Integrators are
/// "administrators minus" exactly these; support agents never hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Appoint or dismiss administrators (SetAdmin, and deactivating or
    /// re-hiring an administrator).
    AppointAdmins,
    /// Turn off anyone's two-factor authentication.
    DisableTwoFactor,
    /// Hand the tenant to another chief admin.
    TransferOwnership,
    /// Change how support may enter the tenant.
    ChangeSupportAccess,
    /// Approve or deny support's access requests.
    DecideAccessRequests,
    /// Extend or revoke support-access grants.
    ManageSupportGrants,
}

/// Where a caller stands in a tenant, as far as capabilities care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    /// An employee holding the admin role.
    EmployeeAdmin,
    /// An employee without the admin role.
    Employee,
    /// A partner's integrator: administrator minus every capability.
    Integrator,
    /// Vendor support, in the tenant only through a grant.
    SupportAgent,
    /// The vendor's operator: runs the service, not the tenant.
    Operator,
    /// A machine caller.
    ServiceAccount,
}

impl Standing {
    /// Who, in the plural, for messages ("integrators may not …").
    pub fn plural(self) -> &'static str {
        match self {
            Self::EmployeeAdmin => "employee administrators",
            Self::Employee => "employees without the admin role",
            Self::Integrator => "integrators",
            Self::SupportAgent => "support agents",
            Self::Operator => "the operator",
            Self::ServiceAccount => "service accounts",
        }
    }
}

/// The rights that exercise each capability, in one table keyed by
/// capability. Every right here must name a security control (see
/// `delegates`); a unit test holds the table to that.
const CAPABILITY_RIGHTS: &[(Capability, &[(&str, &str)])] = &[
    (
        Capability::AppointAdmins,
        &[
            ("identity.users", "set_admin"),
            ("identity.admins", "*"),
            ("admins", "*"),
        ],
    ),
    (
        Capability::DisableTwoFactor,
        &[
            ("security.totp", "disable"),
            ("security.2fa", "*"),
            ("identity.totp", "*"),
            ("mfa", "disable"),
            ("2fa", "*"),
            ("totp", "*"),
            // The security settings hold the tenant-wide 2FA requirement:
            // editing them can turn 2FA off for everyone.
            ("settings.security", "edit"),
        ],
    ),
    (
        Capability::TransferOwnership,
        &[
            ("identity.tenants", "transfer_ownership"),
            ("identity.owner", "*"),
            ("owner", "*"),
        ],
    ),
    (
        Capability::ChangeSupportAccess,
        &[
            ("support_access", "*"),
            ("support_access.settings", "*"),
            ("settings.support_access", "*"),
        ],
    ),
    (
        Capability::DecideAccessRequests,
        &[
            ("support_access.requests", "approve"),
            ("support_access.requests", "deny"),
        ],
    ),
    (
        Capability::ManageSupportGrants,
        &[
            ("support_access.grants", "extend"),
            ("support_access.grants", "revoke"),
        ],
    ),
];

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 6] = [
        Self::AppointAdmins,
        Self::DisableTwoFactor,
        Self::TransferOwnership,
        Self::ChangeSupportAccess,
        Self::DecideAccessRequests,
        Self::ManageSupportGrants,
    ];

    /// Does a caller of this standing hold the capability? Only employee
    /// administrators hold any; the match is exhaustive so a new standing or
    /// capability forces a decision here.
    pub fn held_by(self, standing: Standing) -> bool {
        match standing {
            Standing::EmployeeAdmin => match self {
                Self::AppointAdmins
                | Self::DisableTwoFactor
                | Self::TransferOwnership
                | Self::ChangeSupportAccess
                | Self::DecideAccessRequests
                | Self::ManageSupportGrants => true,
            },
            Standing::Employee
            | Standing::Integrator
            | Standing::SupportAgent
            | Standing::Operator
            | Standing::ServiceAccount => false,
        }
    }

    /// What the capability lets one do, as the end of "may not …".
    pub fn describe(self) -> &'static str {
        match self {
            Self::AppointAdmins => "appoint or dismiss administrators",
            Self::DisableTwoFactor => "turn off two-factor authentication",
            Self::TransferOwnership => "transfer ownership",
            Self::ChangeSupportAccess => "change support-access settings",
            Self::DecideAccessRequests => "approve or deny support-access requests",
            Self::ManageSupportGrants => "extend or revoke support-access grants",
        }
    }

    /// Why a caller of `standing` is refused this capability.
    pub fn refusal(self, standing: Standing) -> String {
        format!(
            "{} may not {}: only an employee administrator may",
            standing.plural(),
            self.describe()
        )
    }

    /// The rights that exercise this capability.
    pub fn rights(self) -> Vec<Right> {
        CAPABILITY_RIGHTS
            .iter()
            .filter(|(c, _)| *c == self)
            .flat_map(|(_, rights)| rights.iter())
            .map(|(entity, action)| Right {
                entity: (*entity).to_string(),
                action: (*action).to_string(),
            })
            .collect()
    }

    /// The capability a right exercises in full: the first whose table
    /// right covers every entity/action `right` matches.
    pub fn exercised_by(right: &Right) -> Option<Capability> {
        Self::ALL
            .into_iter()
            .find(|c| c.rights().iter().any(|r| r.covers_right(right)))
    }

    /// The first capability any part of `right` would exercise (a wide
    /// pattern such as `identity.*:*` reaches `identity.admins:*`).
    pub fn reached_by(right: &Right) -> Option<Capability> {
        Self::ALL
            .into_iter()
            .find(|c| c.rights().iter().any(|r| r.overlaps(right)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(text: &str) -> Right {
        Right::parse(text).unwrap()
    }

    #[test]
    fn only_employee_admins_hold_capabilities() {
        for c in Capability::ALL {
            assert!(c.held_by(Standing::EmployeeAdmin), "{c:?}");
            for s in [
                Standing::Employee,
                Standing::Integrator,
                Standing::SupportAgent,
                Standing::Operator,
                Standing::ServiceAccount,
            ] {
                assert!(!c.held_by(s), "{c:?} {s:?}");
            }
        }
        assert_eq!(
            Capability::AppointAdmins.refusal(Standing::Integrator),
            "integrators may not appoint or dismiss administrators: only an employee administrator may"
        );
    }

    #[test]
    fn every_capability_has_valid_rights() {
        for c in Capability::ALL {
            assert!(!c.rights().is_empty(), "{c:?}");
            for right in c.rights() {
                assert_eq!(Right::parse(&right.to_string()), Ok(right.clone()));
                assert_eq!(Capability::exercised_by(&right), Some(c), "{right}");
            }
        }
    }

    #[test]
    fn which_capability_a_right_exercises() {
        let ex = |t: &str| Capability::exercised_by(&r(t));
        assert_eq!(
            ex("identity.users:set_admin"),
            Some(Capability::AppointAdmins)
        );
        assert_eq!(ex("identity.admins.list:read"), None);
        assert_eq!(ex("identity.admins:read"), Some(Capability::AppointAdmins));
        assert_eq!(
            ex("security.totp:disable"),
            Some(Capability::DisableTwoFactor)
        );
        assert_eq!(ex("mfa:disable"), Some(Capability::DisableTwoFactor));
        assert_eq!(
            ex("settings.security:edit"),
            Some(Capability::DisableTwoFactor)
        );
        assert_eq!(ex("identity.users:read"), None);
        assert_eq!(ex("crm.deal:read"), None);
        let reach = |t: &str| Capability::reached_by(&r(t));
        assert_eq!(reach("identity.*:read"), Some(Capability::AppointAdmins));
        assert_eq!(reach("*:disable"), Some(Capability::AppointAdmins));
        assert_eq!(reach("crm.*:*"), None);
        assert_eq!(reach("identity.users:read"), None);
    }
}
