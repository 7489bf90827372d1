//! An authenticated caller and the questions handlers ask of it.

use super::{AMR_OTP, AccessClaims, AuthError, PrincipalKind};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// User id or service-account client id.
    pub id: String,
    /// Kind.
    pub kind: PrincipalKind,
    /// Tenant, for employees and integrators.
    pub tenant_id: Option<String>,
    /// Admin (or integrator's admin-minus).
    pub admin: bool,
    /// Chief admin.
    pub chief_admin: bool,
    /// Service-account scopes.
    pub scopes: Vec<String>,
    /// Signed in with a second factor.
    pub mfa: bool,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    /// Standing version the token was issued at.
    pub version: u64,
}

impl From<AccessClaims> for Principal {
    fn from(c: AccessClaims) -> Self {
        Self {
            mfa: c.amr.iter().any(|m| m == AMR_OTP),
            id: c.sub,
            kind: c.kind,
            tenant_id: c.tid,
            admin: c.adm,
            chief_admin: c.own,
            scopes: c.scp,
            display_name: c.name,
            email: c.email,
            version: c.ver,
        }
    }
}

impl Principal {
    fn forbid(msg: impl Into<String>) -> AuthError {
        AuthError::Forbidden(msg.into())
    }

    /// Is the operator.
    pub fn is_operator(&self) -> bool {
        self.kind == PrincipalKind::Operator
    }

    /// Belongs to this tenant (employee or integrator).
    pub fn is_member_of(&self, tenant_id: &str) -> bool {
        matches!(
            self.kind,
            PrincipalKind::Employee | PrincipalKind::Integrator
        ) && self.tenant_id.as_deref() == Some(tenant_id)
    }

    /// Is an admin (or integrator) of this tenant.
    pub fn is_admin_of(&self, tenant_id: &str) -> bool {
        self.is_member_of(tenant_id) && self.admin
    }

    /// Requires the operator.
    pub fn require_operator(&self) -> Result<(), AuthError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(Self::forbid("only the operator may do this"))
        }
    }

    /// Requires membership of the tenant.
    pub fn require_member_of(&self, tenant_id: &str) -> Result<(), AuthError> {
        if self.is_member_of(tenant_id) {
            Ok(())
        } else {
            Err(Self::forbid("you are not a member of this tenant"))
        }
    }

    /// Requires an admin of the tenant. Integrators pass (admin-minus); the
    /// few things they may not do are checked where they happen.
    pub fn require_admin_of(&self, tenant_id: &str) -> Result<(), AuthError> {
        if self.is_admin_of(tenant_id) {
            Ok(())
        } else if self.is_member_of(tenant_id) {
            Err(Self::forbid(format!(
                "only an administrator of tenant {tenant_id} may do this"
            )))
        } else {
            Err(Self::forbid("you are not a member of this tenant"))
        }
    }

    /// Requires a real admin of the tenant: an employee, not an integrator.
    pub fn require_employee_admin_of(&self, tenant_id: &str) -> Result<(), AuthError> {
        self.require_admin_of(tenant_id)?;
        if self.kind == PrincipalKind::Integrator {
            return Err(Self::forbid("integrators may not do this"));
        }
        Ok(())
    }

    /// Requires a service account holding `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), AuthError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Self::forbid(format!(
                "a service account with scope {scope} is required"
            )))
        }
    }

    /// Is a service account holding `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.kind == PrincipalKind::ServiceAccount && self.scopes.iter().any(|s| s == scope)
    }

    /// Requires the support agent a record concerns, or an admin of the
    /// record's tenant (who may read requests and grants about their tenant).
    pub fn require_agent_or_admin_of(
        &self,
        agent_id: &str,
        tenant_id: &str,
    ) -> Result<(), AuthError> {
        if self.kind == PrincipalKind::SupportAgent && self.id == agent_id {
            Ok(())
        } else {
            self.require_admin_of(tenant_id)
        }
    }

    /// Requires a support agent.
    pub fn require_support_agent(&self) -> Result<(), AuthError> {
        if self.kind == PrincipalKind::SupportAgent {
            Ok(())
        } else {
            Err(Self::forbid("only a support agent may do this"))
        }
    }
}
