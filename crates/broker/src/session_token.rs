//! Support-session tokens: JWTs the broker signs with its own Ed25519 key
//! (`typ: support+jwt`, `iss: keyholder-broker`), carrying tenant, grant,
//! session, scope and reason. Time claims are checked against the broker's
//! clock, so tests can move time.

use crate::domain::scope::Scope;
use crate::error::{Error, StartError};
use crate::store::keys::{self, SESSION_KEY};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, Validation};
use keyholder_kit::jwt::{self, JwtError};
use keyholder_kit::kek::KekRing;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

/// `typ` of session tokens.
pub const TOKEN_TYPE: &str = "support+jwt";
/// `iss` of session tokens.
pub const ISSUER: &str = "keyholder-broker";
/// `aud` of session tokens.
pub const AUDIENCE: &str = "keyholder";
/// Lifetime of a session access token.
pub const TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The scope as carried in the token (for backends that read it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScopeClaim {
    /// Read-only.
    pub read_only: bool,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Rights.
    #[serde(default)]
    pub rights: Vec<String>,
}

impl From<&Scope> for ScopeClaim {
    fn from(s: &Scope) -> Self {
        Self {
            read_only: s.read_only,
            roles: s.roles.clone(),
            rights: s.rights.clone(),
        }
    }
}

/// Claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The agent.
    pub sub: String,
    /// Expiry (seconds).
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Tenant.
    pub tid: String,
    /// Grant.
    pub gid: String,
    /// Session.
    pub sid: String,
    /// Scope.
    pub scope: ScopeClaim,
    /// Reason given at sign-in.
    pub reason: String,
}

/// Seconds of skew tolerated.
const LEEWAY_SECS: i64 = 5;
/// Shortest pause between two key reloads caused by unknown key ids.
const MIN_RELOAD: std::time::Duration = std::time::Duration::from_secs(1);

/// The broker's signing key and every replica's verification keys.
pub struct SessionKeys {
    db: DatabaseConnection,
    kek: KekRing,
    signing: (String, Vec<u8>),
    verify: RwLock<HashMap<String, DecodingKey>>,
    last_reload: std::sync::Mutex<Option<Instant>>,
}

impl SessionKeys {
    /// Loads the keys from the database (sealing any a previous version left
    /// in plaintext), making the first one if there is none. Replicas racing
    /// here each keep every key, and all sign with the oldest.
    pub async fn load_or_create(
        db: &DatabaseConnection,
        kek: &KekRing,
        now: DateTime<Utc>,
    ) -> Result<Self, StartError> {
        let key_err = |e: String| StartError::Key(e);
        keys::reseal(db, kek)
            .await
            .map_err(|e| key_err(e.to_string()))?;
        let mut rows = keys::all(db).await?;
        if rows.is_empty() {
            let (private, _) = jwt::generate_ed25519().map_err(|e| key_err(e.to_string()))?;
            let kid = uuid::Uuid::now_v7().to_string();
            let sealed = kek
                .seal(SESSION_KEY, &kid, &private)
                .map_err(|e| key_err(e.to_string()))?;
            keys::insert(
                db,
                &kid,
                sealed.into_bytes(),
                keyholder_kit::instant::to_stored(now),
            )
            .await?;
            rows = keys::all(db).await?;
        }
        let first = rows
            .first()
            .ok_or_else(|| StartError::Key("no key stored".into()))?;
        let signing = (first.kid.clone(), open(kek, first).map_err(key_err)?);
        let verify = Self::decode_all(kek, &rows).map_err(key_err)?;
        Ok(Self {
            kek: kek.clone(),
            db: db.clone(),
            signing,
            verify: RwLock::new(verify),
            last_reload: std::sync::Mutex::new(None),
        })
    }

    fn decode_all(
        kek: &KekRing,
        rows: &[crate::store::entities::keys::Model],
    ) -> Result<HashMap<String, DecodingKey>, String> {
        let mut map = HashMap::new();
        for r in rows {
            let public = jwt::public_key_of(&open(kek, r)?).map_err(|e| e.to_string())?;
            map.insert(r.kid.clone(), jwt::decoding_key(&public));
        }
        Ok(map)
    }

    /// Signs claims.
    pub fn sign(&self, claims: &SessionClaims) -> Result<String, Error> {
        jwt::sign(claims, TOKEN_TYPE, &self.signing.0, &self.signing.1)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(k) = self.verify.read().ok()?.get(kid) {
            return Some(k.clone());
        }
        {
            let mut last = self.last_reload.lock().ok()?;
            if last.is_some_and(|t| t.elapsed() < MIN_RELOAD) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let rows = keys::all(&self.db).await.ok()?;
        let map = match Self::decode_all(&self.kek, &rows) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the stored session keys");
                return None;
            }
        };
        let found = map.get(kid).cloned();
        if let Ok(mut w) = self.verify.write() {
            *w = map;
        }
        found
    }

    /// Verifies a session token's signature, type, issuer and audience, and
    /// its time claims against `now`.
    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SessionClaims, Error> {
        let bad =
            |e: JwtError| Error::Unauthenticated(format!("invalid support-session token: {e}"));
        let kid = jwt::key_id(token, TOKEN_TYPE).map_err(bad)?;
        let key = self
            .key(&kid)
            .await
            .ok_or_else(|| bad(JwtError::UnknownKey(kid.clone())))?;
        let mut v = Validation::new(jwt::ALGORITHM);
        // Time is checked below against the broker's clock, not the wall.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<SessionClaims>(token, &key, &v)
            .map_err(|_| bad(JwtError::Invalid))?
            .claims;
        check_time(&claims, now)?;
        Ok(claims)
    }
}

/// The PKCS#8 private key of a stored row, opened with the KEK.
fn open(kek: &KekRing, row: &crate::store::entities::keys::Model) -> Result<Vec<u8>, String> {
    let stored = std::str::from_utf8(&row.private_key)
        .map_err(|_| format!("the stored session key {} is not sealed", row.kid))?;
    kek.open(SESSION_KEY, &row.kid, stored)
        .map_err(|e| e.to_string())
}

/// Checks `exp`/`nbf` against `now`.
pub fn check_time(claims: &SessionClaims, now: DateTime<Utc>) -> Result<(), Error> {
    let t = now.timestamp();
    // Saturating: a claim near i64::MAX must be judged, not overflow.
    if t > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(Error::Unauthenticated(
            "the support-session token has expired; refresh it".into(),
        ));
    }
    if t.saturating_add(LEEWAY_SECS) < claims.nbf {
        return Err(Error::Unauthenticated(
            "the support-session token is not valid yet".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, nbf: i64) -> SessionClaims {
        SessionClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "a".into(),
            exp,
            nbf,
            iat: 0,
            jti: "j".into(),
            tid: "t".into(),
            gid: "g".into(),
            sid: "s".into(),
            scope: ScopeClaim {
                read_only: true,
                roles: vec![],
                rights: vec![],
            },
            reason: String::new(),
        }
    }

    #[test]
    fn extreme_time_claims_are_judged_without_overflow() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        // Found by the session_token fuzz target: exp = i64::MAX overflowed.
        assert!(check_time(&claims(i64::MAX, 0), now).is_ok());
        assert!(check_time(&claims(i64::MIN, 0), now).is_err());
        assert!(check_time(&claims(i64::MAX, i64::MAX), now).is_err());
        assert!(check_time(&claims(i64::MAX, i64::MIN), now).is_ok());
    }
}
