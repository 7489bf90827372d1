//! The rules of identity, free of gRPC and SQL: plain types and functions that
//! take what they need (the time included) and return typed errors.

pub mod authorize;
pub mod departments;
pub mod directory;
pub mod invitations;
pub mod password;
pub mod people;
pub mod random;
pub mod rights;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod validate;

use keyholder_kit::auth::PrincipalKind;

/// Reads a stored principal kind.
pub fn kind_from_str(s: &str) -> Option<PrincipalKind> {
    Some(match s {
        "operator" => PrincipalKind::Operator,
        "employee" => PrincipalKind::Employee,
        "integrator" => PrincipalKind::Integrator,
        "support_agent" => PrincipalKind::SupportAgent,
        "service_account" => PrincipalKind::ServiceAccount,
        _ => return None,
    })
}
