//! Who is calling: the bearer access token every RPC carries, verified offline
//! against identity's published key set, turned into a [`Principal`] that
//! handlers ask simple questions ("admin of this tenant?", "has this scope?").

mod authenticator;
mod claims;
mod principal;
#[cfg(test)]
mod tests;

pub use authenticator::{Authenticator, KeyResolver};
pub use claims::{AccessClaims, PrincipalKind};
pub use principal::Principal;

use crate::error::{ErrorCode, ServiceError};
use crate::jwt::JwtError;
use tonic::metadata::MetadataMap;

/// `iss` of identity's tokens.
pub const ISSUER: &str = "keyholder-identity";
/// `aud` naming the identity service: a token is accepted only by a service
/// its audience names (RFC 8725 §3.9).
pub const AUDIENCE_IDENTITY: &str = "keyholder-identity";
/// `aud` naming the broker.
pub const AUDIENCE_BROKER: &str = "keyholder-broker";
/// `aud` naming audit.
pub const AUDIENCE_AUDIT: &str = "keyholder-audit";
/// Every service's audience, in the order tokens list them.
pub const ALL_AUDIENCES: [&str; 3] = [AUDIENCE_IDENTITY, AUDIENCE_BROKER, AUDIENCE_AUDIT];
/// `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// `typ` of refresh tokens; never accepted where an access token is expected.
pub const REFRESH_TOKEN_TYPE: &str = "rt+jwt";
/// `amr` value meaning a TOTP code was checked at sign-in.
pub const AMR_OTP: &str = "otp";

/// Why a call was refused before reaching the domain.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `authorization: Bearer …` metadata.
    #[error("missing bearer token: send `authorization: Bearer <access token>`")]
    MissingToken,
    /// The token failed verification.
    #[error("invalid access token: {0}")]
    InvalidToken(#[from] JwtError),
    /// The caller is known but not allowed.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// The token was good when issued but its principal's standing has
    /// changed since (deactivated, demoted, signed out everywhere).
    #[error("access token no longer valid: {0}")]
    Revoked(String),
    /// The caller's standing cannot be confirmed right now.
    #[error("{0}")]
    Unavailable(String),
}

impl ServiceError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) | Self::Revoked(_) => {
                ErrorCode::Unauthenticated
            }
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Forbidden(_) => ErrorCode::PermissionDenied,
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> Self {
        crate::error::to_status(&e)
    }
}

/// The bearer token in `authorization` metadata.
pub fn bearer(metadata: &MetadataMap) -> Result<&str, AuthError> {
    bearer_in(metadata.get("authorization").and_then(|v| v.to_str().ok()))
}

/// The token of an `authorization: Bearer <token>` value, if that is what it is.
pub fn bearer_in(value: Option<&str>) -> Result<&str, AuthError> {
    let value = value.ok_or(AuthError::MissingToken)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::MissingToken)?
        .trim();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token)
}
