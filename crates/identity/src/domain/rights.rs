//! The built-in roles, and what an integrator may hand out in a role. The
//! right itself (grammar, limits, matching) is `keyholder_rights`, shared
//! with the broker.

use crate::domain::authorize::SubjectRef;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
pub use keyholder_rights::right::{Right, decode, encode, valid_action, valid_entity};

/// A named set of rights in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Id.
    pub role_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// The rights it grants.
    pub rights: Vec<Right>,
    /// One of the roles every tenant starts with (not editable).
    pub built_in: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Role {
    /// A role of `tenant_id` holding `rights`.
    pub fn new(
        tenant_id: &str,
        name: String,
        rights: &[Right],
        built_in: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            role_id: crate::domain::random::id(),
            tenant_id: tenant_id.into(),
            name,
            rights: rights.to_vec(),
            built_in,
            created_at: now,
        }
    }
}

/// A role given to a user or a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The role.
    pub role_id: String,
    /// Its holder.
    pub subject: SubjectRef,
}

/// Name of the built-in admin role.
pub const ADMIN_ROLE: &str = "admin";
/// Name of the built-in role every employee holds.
pub const EMPLOYEE_ROLE: &str = "employee";
/// Name of the built-in integrator role.
pub const INTEGRATOR_ROLE: &str = "integrator";
/// Name of the built-in read-only role for support grants.
pub const SUPPORT_READ_ONLY_ROLE: &str = "support_read_only";

/// The roles every tenant starts with, and their rights.
pub fn built_in_roles() -> Vec<(&'static str, Vec<Right>)> {
    let r = |e: &str, a: &str| Right {
        entity: e.into(),
        action: a.into(),
    };
    vec![
        (ADMIN_ROLE, vec![r("*", "*")]),
        (EMPLOYEE_ROLE, vec![]),
        // Admin rights, held by every integrator; `Authorize` takes away
        // what delegates may never do (`keyholder_rights::delegate_may`) and
        // the handlers of the admin-only powers ask for a capability.
        (INTEGRATOR_ROLE, vec![r("*", "*")]),
        (SUPPORT_READ_ONLY_ROLE, vec![r("*", "read")]),
    ]
}

/// Refuses an integrator creating, changing or assigning a role with
/// `rights` that reach past what integrators may hand out.
pub fn check_integrator_may_grant(rights: &[Right]) -> Result<()> {
    for r in rights {
        if let Err(why) = keyholder_rights::delegate_may_hand_out(r) {
            return Err(Error::denied(format!(
                "integrators may not hand out the right {r}: {why}"
            )));
        }
    }
    Ok(())
}

/// Is `name` one of the built-in roles?
pub fn is_built_in(name: &str) -> bool {
    built_in_roles().iter().any(|(n, _)| *n == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn what_integrators_may_hand_out() {
        let ok = vec![Right::parse("crm.*:*").unwrap()];
        assert!(check_integrator_may_grant(&ok).is_ok());
        let wide = vec![ok[0].clone(), Right::parse("*:read").unwrap()];
        let err = check_integrator_may_grant(&wide).unwrap_err().to_string();
        assert!(
            err.contains("integrators may not hand out the right *:read")
                && err.contains("admin-only"),
            "{err}"
        );
        let admins = vec![Right::parse("identity.admins:change").unwrap()];
        let err = check_integrator_may_grant(&admins).unwrap_err().to_string();
        assert!(err.contains("appoint or dismiss administrators"), "{err}");
    }

    #[test]
    fn built_ins() {
        assert!(is_built_in("admin") && is_built_in("support_read_only"));
        assert!(!is_built_in("sales"));
    }
}
