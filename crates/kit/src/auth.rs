//! Who is calling: the bearer access token every RPC carries, verified offline
//! against identity's published key set, turned into a [`Principal`] that
//! handlers ask simple questions ("admin of this tenant?", "has this scope?").

use crate::error::{ErrorCode, ServiceError};
use crate::jwt::{self, JwtError};
use crate::token_cache::VerifiedTokens;
use async_trait::async_trait;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
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
        if self.kind == PrincipalKind::ServiceAccount && self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(Self::forbid(format!(
                "a service account with scope {scope} is required"
            )))
        }
    }

    /// Is a service account holding `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.require_scope(scope).is_ok()
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

/// Finds the verification key for a `kid`.
#[async_trait]
pub trait KeyResolver: Send + Sync {
    /// The key, if it is (still) published.
    async fn resolve(&self, kid: &str) -> Option<DecodingKey>;
}

/// Verifies identity access tokens meant for one service (its audience),
/// remembering verified tokens until they expire so a busy caller's token is
/// checked cryptographically once, not on every call.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<dyn KeyResolver>,
    audience: &'static str,
    verified: Arc<VerifiedTokens<(Principal, i64)>>,
    clock: crate::clock::SharedClock,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Uses `keys` to find verification keys; accepts only tokens whose
    /// `aud` names `audience` and whose window holds `clock`'s now.
    pub fn new(
        keys: Arc<dyn KeyResolver>,
        audience: &'static str,
        clock: crate::clock::SharedClock,
    ) -> Self {
        Self {
            keys,
            audience,
            verified: Arc::new(VerifiedTokens::new(20_000)),
            clock,
        }
    }

    /// The audience this authenticator accepts.
    pub fn audience(&self) -> &'static str {
        self.audience
    }

    /// Verifies an access token (signature, type, `crit`, iss, aud, exp, nbf).
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        Ok(self.verify_cached(token).await?.0.clone())
    }

    /// [`Authenticator::verify`], answering a token verified before from
    /// memory until its `exp` (key rotation keeps old keys published until
    /// their tokens expire, so a cached answer cannot outlive its key).
    pub async fn verify_cached(&self, token: &str) -> Result<Arc<(Principal, i64)>, AuthError> {
        let now = self.clock.now().timestamp();
        if let Some(hit) = self.verified.get(token).await.filter(|hit| hit.1 > now) {
            return Ok(hit);
        }
        let kid = jwt::key_id(token, ACCESS_TOKEN_TYPE)?;
        let key = self
            .keys
            .resolve(&kid)
            .await
            .ok_or(JwtError::UnknownKey(kid))?;
        let claims: AccessClaims = jwt::verify(token, &key, ISSUER, self.audience, now)?;
        let exp = claims.exp;
        let entry = Arc::new((Principal::from(claims), exp));
        self.verified.insert(token, entry.clone()).await;
        Ok(entry)
    }

    /// Authenticates a request by its bearer token.
    pub async fn authenticate<T>(&self, req: &tonic::Request<T>) -> Result<Principal, AuthError> {
        self.verify(bearer(req.metadata())?).await
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

#[cfg(test)]
mod tests {
    use super::*;

    struct OneKey(DecodingKey);

    #[async_trait]
    impl KeyResolver for OneKey {
        async fn resolve(&self, _: &str) -> Option<DecodingKey> {
            Some(self.0.clone())
        }
    }

    #[tokio::test]
    async fn token_windows_are_judged_by_the_injected_clock() {
        let (private, public) = jwt::generate_ed25519().unwrap_or_default();
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let clock = crate::clock::ManualClock::new(start);
        let t = start.timestamp();
        let claims = serde_json::json!({
            "iss": ISSUER, "aud": [AUDIENCE_BROKER], "sub": "svc", "exp": t + 300,
            "nbf": t, "iat": t, "jti": "j1", "kind": "service_account",
            "scp": ["broker.check_access"], "ver": 0,
        });
        let token = jwt::sign(&claims, ACCESS_TOKEN_TYPE, "k1", &private).unwrap_or_default();
        let make = || {
            Authenticator::new(
                Arc::new(OneKey(jwt::decoding_key(&public))),
                AUDIENCE_BROKER,
                clock.clone(),
            )
        };
        // Years after the wall clock says it expired, the manual clock says now.
        assert!(make().verify(&token).await.is_ok());
        clock.advance(chrono::Duration::seconds(300 + 6));
        assert!(matches!(
            make().verify(&token).await,
            Err(AuthError::InvalidToken(JwtError::Expired))
        ));
        // A cached answer also ends at `exp` by the same clock.
        let cached = make();
        clock.advance(chrono::Duration::seconds(-306));
        assert!(cached.verify(&token).await.is_ok());
        // Past `exp` and the 5 s leeway.
        clock.advance(chrono::Duration::seconds(306));
        assert!(cached.verify(&token).await.is_err());
    }

    fn p(kind: PrincipalKind, tenant: Option<&str>, admin: bool) -> Principal {
        Principal {
            id: "u".into(),
            kind,
            tenant_id: tenant.map(str::to_string),
            admin,
            chief_admin: false,
            scopes: vec!["broker.check_access".into()],
            mfa: false,
            display_name: String::new(),
            email: String::new(),
            version: 0,
        }
    }

    #[test]
    fn tenant_confinement() {
        let admin_a = p(PrincipalKind::Employee, Some("A"), true);
        assert!(admin_a.require_admin_of("A").is_ok());
        assert!(
            matches!(admin_a.require_admin_of("B"), Err(AuthError::Forbidden(m)) if m.contains("not a member"))
        );
        let emp_a = p(PrincipalKind::Employee, Some("A"), false);
        assert!(emp_a.require_admin_of("A").is_err());
        let integ = p(PrincipalKind::Integrator, Some("A"), true);
        assert!(integ.require_admin_of("A").is_ok());
        assert!(integ.require_employee_admin_of("A").is_err());
        let agent = p(PrincipalKind::SupportAgent, None, false);
        assert!(!agent.is_member_of("A"));
        let svc = p(PrincipalKind::ServiceAccount, None, false);
        assert!(svc.require_scope("broker.check_access").is_ok());
        assert!(svc.require_scope("audit.events.write").is_err());
        assert!(emp_a.require_scope("broker.check_access").is_err());
    }

    #[test]
    fn a_record_is_read_by_its_agent_or_its_tenants_admins_only() {
        let mut agent = p(PrincipalKind::SupportAgent, None, false);
        agent.id = "agent-1".into();
        assert!(agent.require_agent_or_admin_of("agent-1", "A").is_ok());
        agent.id = "agent-2".into();
        assert!(matches!(
            agent.require_agent_or_admin_of("agent-1", "A"),
            Err(AuthError::Forbidden(_))
        ));
        let admin_a = p(PrincipalKind::Employee, Some("A"), true);
        assert!(admin_a.require_agent_or_admin_of("agent-1", "A").is_ok());
        let admin_b = p(PrincipalKind::Employee, Some("B"), true);
        assert!(admin_b.require_agent_or_admin_of("agent-1", "A").is_err());
        let emp_a = p(PrincipalKind::Employee, Some("A"), false);
        assert!(emp_a.require_agent_or_admin_of("agent-1", "A").is_err());
    }

    #[test]
    fn bearer_parsing() {
        let mut m = MetadataMap::new();
        assert_eq!(bearer(&m), Err(AuthError::MissingToken));
        m.insert(
            "authorization",
            "Basic abc"
                .parse()
                .unwrap_or_else(|_| tonic::metadata::MetadataValue::from_static("")),
        );
        assert_eq!(bearer(&m), Err(AuthError::MissingToken));
        m.insert(
            "authorization",
            tonic::metadata::MetadataValue::from_static("Bearer tok"),
        );
        assert_eq!(bearer(&m), Ok("tok"));
    }
}
