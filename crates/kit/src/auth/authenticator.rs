//! Verifying access tokens offline against identity's published keys.

use super::{ACCESS_TOKEN_TYPE, AccessClaims, AuthError, ISSUER, Principal, bearer};
use crate::jwt::{self, JwtError};
use crate::token_cache::VerifiedTokens;
use async_trait::async_trait;
use jsonwebtoken::DecodingKey;
use std::sync::Arc;

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
