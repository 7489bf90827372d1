//! Calling other Keyholder services: channels, the remote key set used to
//! verify identity's tokens offline, and a service-account token that renews
//! itself.

use crate::auth::KeyResolver;
use crate::credentials::ServiceCredentials;
use crate::jwt;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use keyholder_proto::identity::v1::{GetKeySetRequest, IssueServiceTokenRequest};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};
use tonic::transport::{Channel, Endpoint};

/// Why a call to another service could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not a valid endpoint.
    #[error("invalid service url {0}")]
    BadUrl(String),
    /// The remote answered with an error.
    #[error("{service} call failed: {status}")]
    Call {
        /// Which service.
        service: &'static str,
        /// The status.
        status: tonic::Status,
    },
}

/// A lazily connecting channel to `url` with sane timeouts.
pub fn channel(url: &str) -> Result<Channel, ClientError> {
    let ep =
        Endpoint::from_shared(url.to_string()).map_err(|_| ClientError::BadUrl(url.to_string()))?;
    Ok(ep
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Identity's published keys, fetched over gRPC; refreshed when a token names
/// an unknown `kid` (at most once per [`RemoteKeySet::MIN_REFRESH`]) and when
/// the copy is older than [`RemoteKeySet::MAX_AGE`], so a key identity stopped
/// publishing (retired or compromised) is dropped here too.
pub struct RemoteKeySet {
    client: IdentityServiceClient<Channel>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    fetched_at: RwLock<Option<Instant>>,
    last_refresh: Mutex<Option<Instant>>,
}

impl RemoteKeySet {
    /// Shortest interval between two fetches caused by unknown key ids.
    pub const MIN_REFRESH: Duration = Duration::from_millis(250);
    /// Longest a fetched key set is trusted without asking identity again.
    pub const MAX_AGE: Duration = Duration::from_secs(300);

    /// Fetches from the identity service on `channel`.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
            keys: RwLock::new(HashMap::new()),
            fetched_at: RwLock::new(None),
            last_refresh: Mutex::new(None),
        }
    }

    /// Fetches the key set now.
    pub async fn refresh(&self) -> Result<usize, ClientError> {
        let resp = self
            .client
            .clone()
            .get_key_set(GetKeySetRequest {})
            .await
            .map_err(|status| ClientError::Call {
                service: "identity",
                status,
            })?
            .into_inner();
        let mut map = HashMap::new();
        for k in resp.keys {
            if k.alg != jwt::ALGORITHM_NAME {
                continue;
            }
            if let Ok(raw) = URL_SAFE_NO_PAD.decode(&k.public_key) {
                map.insert(k.kid, jwt::decoding_key(&raw));
            }
        }
        let n = map.len();
        *self.keys.write().await = map;
        *self.fetched_at.write().await = Some(Instant::now());
        Ok(n)
    }
}

#[async_trait]
impl KeyResolver for RemoteKeySet {
    async fn resolve(&self, kid: &str) -> Option<DecodingKey> {
        let stale = self
            .fetched_at
            .read()
            .await
            .is_some_and(|t| t.elapsed() > Self::MAX_AGE);
        if stale {
            let mut last = self.last_refresh.lock().await;
            if last.is_none_or(|t| t.elapsed() >= Self::MIN_REFRESH) {
                *last = Some(Instant::now());
                // On failure keep the old set: identity being briefly down must
                // not lock every caller out.
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "could not refresh a stale identity key set");
                }
            }
        }
        if let Some(k) = self.keys.read().await.get(kid) {
            return Some(k.clone());
        }
        {
            let mut last = self.last_refresh.lock().await;
            // Another caller may have refreshed while we waited for the lock.
            if let Some(k) = self.keys.read().await.get(kid) {
                return Some(k.clone());
            }
            if last.is_some_and(|t| t.elapsed() < Self::MIN_REFRESH) {
                return None;
            }
            *last = Some(Instant::now());
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not refresh identity key set");
                return None;
            }
        }
        self.keys.read().await.get(kid).cloned()
    }
}

/// A service account's access token, renewed a minute before it expires.
pub struct ServiceToken {
    client: IdentityServiceClient<Channel>,
    credentials: ServiceCredentials,
    cached: Mutex<Option<(String, chrono::DateTime<chrono::Utc>)>>,
}

impl ServiceToken {
    /// Signs in at identity on `channel` with `credentials` when needed.
    pub fn new(channel: Channel, credentials: ServiceCredentials) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token.
    pub async fn token(&self) -> Result<String, ClientError> {
        let mut cached = self.cached.lock().await;
        if let Some((tok, exp)) = cached.as_ref()
            && *exp - chrono::Utc::now() > chrono::Duration::seconds(60)
        {
            return Ok(tok.clone());
        }
        let resp = self
            .client
            .clone()
            .issue_service_token(IssueServiceTokenRequest {
                client_id: self.credentials.client_id.clone(),
                client_secret: self.credentials.client_secret.clone(),
            })
            .await
            .map_err(|status| ClientError::Call {
                service: "identity",
                status,
            })?
            .into_inner();
        let exp = resp
            .expire_time
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .unwrap_or_else(chrono::Utc::now);
        *cached = Some((resp.access_token.clone(), exp));
        Ok(resp.access_token)
    }

    /// Wraps `message` in a request carrying the bearer token and the current
    /// trace context.
    pub async fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ClientError> {
        let token = self.token().await?;
        Ok(authorized(message, &token))
    }
}

/// A request with `authorization: Bearer <token>` and the current trace context.
pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    crate::telemetry::inject_context(req.metadata_mut());
    req
}
