//! The key ring: signs tokens with the current Ed25519 key, rotates keys, and
//! resolves `kid`s for identity's own authenticator straight from the store
//! (so a rotation by another replica is seen at once).

use crate::domain::tokens::{KEY_PUBLISH_GRACE_SECS, PublishedKey, RefreshClaims};
use crate::error::{Error, Result};
use crate::store::keys::{is_published, published};
use crate::store::sealed::SIGNING_KEY;
use crate::store::{Store, signing_key};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::DecodingKey;
use keyholder_kit::auth::{
    ACCESS_TOKEN_TYPE, AUDIENCE_IDENTITY, AccessClaims, ISSUER, KeyResolver, REFRESH_TOKEN_TYPE,
};
use keyholder_kit::clock::SharedClock;
use keyholder_kit::instant::to_stored;
use keyholder_kit::jwt;
use keyholder_kit::kek::KekRing;

/// Signs and verifies with the stored keys.
#[derive(Debug, Clone)]
pub struct KeyRing {
    store: Store,
    clock: SharedClock,
}

/// A fresh key, its private half sealed with the key-encryption key.
fn new_key(kek: &KekRing, now: DateTime<Utc>) -> Result<signing_key::Model> {
    let (private, public) = jwt::generate_ed25519()?;
    let kid = crate::domain::random::id();
    Ok(signing_key::Model {
        private_key: kek.seal_str(SIGNING_KEY, &kid, &STANDARD.encode(private))?,
        kid,
        public_key: URL_SAFE_NO_PAD.encode(public),
        created_at_us: to_stored(now),
        retired_at_us: None,
        publish_until_us: None,
    })
}

/// How long a retired key stays published.
fn publish_grace() -> Duration {
    Duration::seconds(KEY_PUBLISH_GRACE_SECS)
}

/// The raw public key of a stored key.
pub fn public_key_bytes(k: &signing_key::Model) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(&k.public_key).ok()
}

impl KeyRing {
    /// A key ring over `store`.
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// Makes the first key when there is none.
    pub async fn ensure_key(&self) -> Result<()> {
        if self.store.current_signing_key().await?.is_none() {
            let now = self.clock.now();
            self.store
                .rotate_signing_key(new_key(self.store.kek(), now)?, now, publish_grace())
                .await?;
            tracing::info!("created the first signing key");
        }
        Ok(())
    }

    /// Retires the current key and starts a new one.
    pub async fn rotate(&self) -> Result<PublishedKey> {
        let now = self.clock.now();
        let key = new_key(self.store.kek(), now)?;
        self.store
            .rotate_signing_key(key.clone(), now, publish_grace())
            .await?;
        tracing::info!(kid = %key.kid, "signing key rotated");
        published(&key)
    }

    /// Keys published now.
    pub async fn published(&self) -> Result<Vec<PublishedKey>> {
        self.store.published_keys(self.clock.now()).await
    }

    async fn signer(&self) -> Result<(String, Vec<u8>)> {
        let key = self
            .store
            .current_signing_key()
            .await?
            .ok_or_else(|| Error::internal("no signing key"))?;
        let private = self
            .store
            .kek()
            .open_str(SIGNING_KEY, &key.kid, &key.private_key)?;
        let private = STANDARD
            .decode(private)
            .map_err(|_| Error::internal("stored signing key is not base64"))?;
        Ok((key.kid, private))
    }

    /// Signs an access token.
    pub async fn sign_access(&self, claims: &AccessClaims) -> Result<String> {
        let (kid, private) = self.signer().await?;
        Ok(jwt::sign(claims, ACCESS_TOKEN_TYPE, &kid, &private)?)
    }

    /// Signs a refresh token.
    pub async fn sign_refresh(&self, claims: &RefreshClaims) -> Result<String> {
        let (kid, private) = self.signer().await?;
        Ok(jwt::sign(claims, REFRESH_TOKEN_TYPE, &kid, &private)?)
    }

    /// Verifies a refresh token (typ `rt+jwt` only) with whichever stored key
    /// signed it.
    pub async fn verify_refresh(&self, token: &str) -> Result<RefreshClaims> {
        let kid = jwt::key_id(token, REFRESH_TOKEN_TYPE)?;
        let key = self
            .store
            .signing_key(&kid)
            .await?
            .and_then(|k| public_key_bytes(&k))
            .ok_or(jwt::JwtError::UnknownKey(kid))?;
        Ok(jwt::verify(
            token,
            &jwt::decoding_key(&key),
            ISSUER,
            AUDIENCE_IDENTITY,
            // Judged by the clock that issued it (RFC 7519 seconds).
            self.clock.now().timestamp(),
        )?)
    }
}

#[async_trait]
impl KeyResolver for KeyRing {
    async fn resolve(&self, kid: &str) -> Option<DecodingKey> {
        let now = self.clock.now();
        match self.store.signing_key(kid).await {
            Ok(Some(k)) if is_published(&k, now) => {
                public_key_bytes(&k).map(|b| jwt::decoding_key(&b))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot read signing key");
                None
            }
        }
    }
}
