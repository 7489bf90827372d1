//! What an access token says: its claims and the kind of principal it speaks for.

use crate::jwt;
use serde::{Deserialize, Serialize};

/// What kind of principal a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// The vendor's operator.
    Operator,
    /// A tenant employee (admins included).
    Employee,
    /// A partner's integrator in a tenant.
    Integrator,
    /// Vendor support staff.
    SupportAgent,
    /// A machine caller.
    ServiceAccount,
}

impl PrincipalKind {
    /// The snake-case name used in claims and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Employee => "employee",
            Self::Integrator => "integrator",
            Self::SupportAgent => "support_agent",
            Self::ServiceAccount => "service_account",
        }
    }
}

/// Claims of an identity access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audiences: the services that accept this token.
    pub aud: Vec<String>,
    /// Principal id (user id or service-account client id).
    pub sub: String,
    /// Expiry (seconds since epoch).
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Kind of principal.
    pub kind: PrincipalKind,
    /// Tenant, for employees and integrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Holds the admin role (integrators: admin-minus).
    #[serde(default)]
    pub adm: bool,
    /// Is the chief admin.
    #[serde(default)]
    pub own: bool,
    /// Scopes of a service account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scp: Vec<String>,
    /// Authentication methods used (`pwd`, `otp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// The principal's standing version when the token was issued; refused
    /// once identity's live version is higher (demoted, dismissed, …).
    #[serde(default)]
    pub ver: u64,
}

impl jwt::Window for AccessClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
    fn nbf(&self) -> i64 {
        self.nbf
    }
}
