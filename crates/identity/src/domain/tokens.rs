//! What goes into tokens and for how long.

use chrono::{DateTime, Duration, Utc};
use keyholder_kit::auth::{
    ALL_AUDIENCES, AMR_OTP, AUDIENCE_IDENTITY, AccessClaims, ISSUER, PrincipalKind,
};
use serde::{Deserialize, Serialize};

/// Lifetime of an access token.
pub const ACCESS_TTL_MINUTES: i64 = 15;
/// Lifetime of a refresh token (each refresh issues a new one).
pub const REFRESH_TTL_HOURS: i64 = 12;
/// A retired signing key stays published this long, so the access tokens it
/// signed keep verifying until they expire (plus the verifiers' leeway).
pub const KEY_PUBLISH_GRACE_SECS: i64 = ACCESS_TTL_MINUTES * 60 + 60;
/// The only scope of an integrator's token after the 2FA deadline: it is good
/// for TOTP enrolment and nothing else.
pub const TOTP_ENROLLMENT_ONLY_SCOPE: &str = "identity.totp_enrollment_only";
/// `amr` for a password.
pub const AMR_PWD: &str = "pwd";

/// One sign-in's chain of refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    /// Id.
    pub family_id: String,
    /// The user signed in.
    pub user_id: String,
    /// How they authenticated.
    pub amr: Vec<String>,
    /// When they signed in.
    pub created_at: DateTime<Utc>,
    /// When the family was ended, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One refresh token of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// Its `jti`.
    pub jti: String,
    /// Its family.
    pub family_id: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was used, if it was (a second use is a replay).
    pub spent_at: Option<DateTime<Utc>>,
}

/// A signing key as published (never its private half).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// Key id.
    pub kid: String,
    /// The raw public key, base64url.
    pub public_key: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When a retired key stops being published.
    pub publish_until: Option<DateTime<Utc>>,
}

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// User id or client id.
    pub id: String,
    /// Kind.
    pub kind: PrincipalKind,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// Admin (integrators: admin-minus).
    pub admin: bool,
    /// Chief admin.
    pub chief: bool,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Standing version at issue (see `store::standing`).
    pub version: u64,
}

/// The services a token is good at: people call all three; a service
/// account only the services its scopes name (`broker.check_access` → the
/// broker), so its token is refused anywhere else.
pub fn audiences(kind: PrincipalKind, scopes: &[String]) -> Vec<String> {
    if kind != PrincipalKind::ServiceAccount {
        return ALL_AUDIENCES.iter().map(|a| a.to_string()).collect();
    }
    ALL_AUDIENCES
        .iter()
        .filter(|aud| {
            let service = aud.trim_start_matches("keyholder-");
            scopes.iter().any(|s| s.split('.').next() == Some(service))
        })
        .map(|a| a.to_string())
        .collect()
}

/// Claims of a refresh token; checked only by identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Expiry.
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id (one use).
    pub jti: String,
    /// Family id (one sign-in).
    pub fam: String,
}

impl keyholder_kit::jwt::Window for RefreshClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
    fn nbf(&self) -> i64 {
        self.nbf
    }
}

/// Access-token claims for `subject` issued at `now`.
pub fn access_claims(subject: &Subject, now: DateTime<Utc>, jti: String) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        aud: audiences(subject.kind, &subject.scopes),
        sub: subject.id.clone(),
        exp: (now + Duration::minutes(ACCESS_TTL_MINUTES)).timestamp(),
        nbf: now.timestamp(),
        iat: now.timestamp(),
        jti,
        kind: subject.kind,
        tid: subject.tenant_id.clone(),
        adm: subject.admin,
        own: subject.chief,
        scp: subject.scopes.clone(),
        amr: subject.amr.clone(),
        name: subject.name.clone(),
        email: subject.email.clone(),
        ver: subject.version,
    }
}

/// Refresh-token claims.
pub fn refresh_claims(
    user_id: &str,
    family: &str,
    now: DateTime<Utc>,
    jti: String,
) -> RefreshClaims {
    RefreshClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE_IDENTITY.into(),
        sub: user_id.into(),
        exp: (now + Duration::hours(REFRESH_TTL_HOURS)).timestamp(),
        nbf: now.timestamp(),
        iat: now.timestamp(),
        jti,
        fam: family.into(),
    }
}

/// `amr` for a sign-in with or without a TOTP code.
pub fn amr(with_otp: bool) -> Vec<String> {
    if with_otp {
        vec![AMR_PWD.into(), AMR_OTP.into()]
    } else {
        vec![AMR_PWD.into()]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn access_claims_carry_everything_the_kit_reads() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let s = Subject {
            id: "u1".into(),
            kind: PrincipalKind::Employee,
            tenant_id: Some("t1".into()),
            admin: true,
            chief: true,
            scopes: vec![],
            amr: amr(true),
            name: "Ann".into(),
            email: "ann@example.com".into(),
            version: 3,
        };
        let c = access_claims(&s, now, "j1".into());
        assert_eq!(c.iss, ISSUER);
        assert_eq!(c.aud, ALL_AUDIENCES.to_vec());
        assert_eq!(c.ver, 3);
        assert_eq!(c.exp - c.iat, 15 * 60);
        assert_eq!(c.nbf, c.iat);
        assert_eq!(c.amr, vec!["pwd", "otp"]);
        let p: keyholder_kit::auth::Principal = c.into();
        assert!(p.mfa && p.chief_admin && p.is_admin_of("t1"));
        let r = refresh_claims("u1", "f1", now, "j2".into());
        assert_eq!(r.exp - r.iat, 12 * 3600);
        assert_eq!(amr(false), vec!["pwd"]);
    }

    #[test]
    fn a_service_account_token_names_only_the_services_of_its_scopes() {
        let scopes = vec!["broker.check_access".to_string()];
        assert_eq!(
            audiences(PrincipalKind::ServiceAccount, &scopes),
            vec!["keyholder-broker"]
        );
        let scopes = vec![
            "identity.users.read".to_string(),
            "audit.events.write".to_string(),
        ];
        assert_eq!(
            audiences(PrincipalKind::ServiceAccount, &scopes),
            vec!["keyholder-identity", "keyholder-audit"]
        );
        assert!(audiences(PrincipalKind::ServiceAccount, &[]).is_empty());
        assert_eq!(audiences(PrincipalKind::SupportAgent, &[]).len(), 3);
    }
}
