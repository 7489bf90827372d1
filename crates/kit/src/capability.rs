//! Asking a [`Principal`] for one of the powers only employee administrators
//! hold ([`Capability`]), where the power is used, instead of matching entity
//! names or principal kinds in each handler.

use crate::auth::{AuthError, Principal, PrincipalKind};
use keyholder_rights::{Capability, Standing};

impl Principal {
    /// Where this principal stands, as far as capabilities care. The admin
    /// flag counts only for employees: an integrator's token says admin
    /// ("admin minus"), which is exactly what holds no capability.
    pub fn standing(&self) -> Standing {
        match self.kind {
            PrincipalKind::Employee if self.admin => Standing::EmployeeAdmin,
            PrincipalKind::Employee => Standing::Employee,
            PrincipalKind::Integrator => Standing::Integrator,
            PrincipalKind::SupportAgent => Standing::SupportAgent,
            PrincipalKind::Operator => Standing::Operator,
            PrincipalKind::ServiceAccount => Standing::ServiceAccount,
        }
    }

    /// Holds `cap` (in whichever tenant it administers)?
    pub fn holds(&self, cap: Capability) -> bool {
        cap.held_by(self.standing())
    }

    /// Requires an administrator of `tenant_id` holding `cap`: the usual
    /// tenant refusals first (not a member, not an administrator), then the
    /// capability's own ("integrators may not appoint or dismiss
    /// administrators").
    pub fn require_capability(&self, tenant_id: &str, cap: Capability) -> Result<(), AuthError> {
        self.require_admin_of(tenant_id)?;
        if self.holds(cap) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(cap.refusal(self.standing())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: PrincipalKind, admin: bool) -> Principal {
        Principal {
            id: "u".into(),
            kind,
            tenant_id: Some("A".into()),
            admin,
            chief_admin: false,
            scopes: vec![],
            mfa: true,
            display_name: String::new(),
            email: String::new(),
            version: 0,
        }
    }

    fn refusal(r: Result<(), AuthError>) -> String {
        match r {
            Err(AuthError::Forbidden(m)) => m,
            other => format!("not refused: {other:?}"),
        }
    }

    #[test]
    fn only_employee_admins_of_the_tenant_hold_capabilities() {
        let admin = p(PrincipalKind::Employee, true);
        let integ = p(PrincipalKind::Integrator, true);
        for cap in Capability::ALL {
            assert!(admin.require_capability("A", cap).is_ok(), "{cap:?}");
            assert!(refusal(admin.require_capability("B", cap)).contains("not a member"));
            let m = refusal(integ.require_capability("A", cap));
            assert!(m.starts_with("integrators may not"), "{m}");
        }
        assert_eq!(
            refusal(integ.require_capability("A", Capability::AppointAdmins)),
            "integrators may not appoint or dismiss administrators: only an employee administrator may"
        );
        let clerk = p(PrincipalKind::Employee, false);
        assert!(
            refusal(clerk.require_capability("A", Capability::DisableTwoFactor))
                .contains("only an administrator")
        );
        let mut agent = p(PrincipalKind::SupportAgent, false);
        agent.tenant_id = None;
        assert!(
            agent
                .require_capability("A", Capability::DecideAccessRequests)
                .is_err()
        );
    }
}
