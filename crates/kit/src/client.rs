//! Calling other Keyholder services: channels, the remote key set used to
//! verify identity's tokens offline, and a service-account token that renews
//! itself.

use crate::auth::KeyResolver;
use crate::credentials::ServiceCredentials;
use crate::jwt;
use crate::tls::{ClientTls, TlsConfig};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use keyholder_proto::identity::v1::{GetKeySetRequest, IssueServiceTokenRequest};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};
use tonic::transport::Endpoint;
use tracing::Instrument;

/// Why a call to another service could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not a valid endpoint.
    #[error("invalid service url {0}: give http:// or https://, a host and a port")]
    BadUrl(String),
    /// TLS could not be set up, or a plaintext call is refused.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The remote answered with an error.
    #[error("{service} call failed: {status}")]
    Call {
        /// Which service.
        service: &'static str,
        /// The status.
        status: tonic::Status,
    },
}

/// A lazily connecting channel to another Keyholder service at `url`, with
/// sane timeouts and a client span per call.
pub fn channel(url: &str, tls: &TlsConfig) -> Result<Channel, ClientError> {
    Ok(plain_channel(url, tls)?.into())
}

/// A lazily connecting channel to `url` without client spans (the OTLP
/// exporter's own, whose calls must not make spans): `https://` with TLS
/// as `tls` says, `http://` only to a loopback host unless allowed.
pub fn plain_channel(url: &str, tls: &TlsConfig) -> Result<tonic::transport::Channel, ClientError> {
    let bad = || ClientError::BadUrl(url.to_string());
    let ep = Endpoint::from_shared(url.to_string())
        .map_err(|_| bad())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    let host = ep.uri().host().ok_or_else(bad)?;
    match ep.uri().scheme_str() {
        Some("https") => Ok(ep.connect_with_connector_lazy(ClientTls::new(tls)?.connector())),
        Some("http") => {
            tls.check_plaintext_call(url, host)?;
            Ok(ep.connect_lazy())
        }
        _ => Err(bad()),
    }
}

/// A channel to another Keyholder service on which every call is a client
/// span (the OpenTelemetry RPC conventions, with its final status) and
/// carries that span's W3C `traceparent`, so the callee's server span joins
/// the caller's trace. Every inter-service client goes through one.
#[derive(Debug, Clone)]
pub struct Channel(tonic::transport::Channel);

impl From<tonic::transport::Channel> for Channel {
    fn from(inner: tonic::transport::Channel) -> Self {
        Self(inner)
    }
}

type CallFuture = Pin<
    Box<
        dyn Future<Output = Result<http::Response<tonic::body::Body>, tonic::transport::Error>>
            + Send,
    >,
>;

impl tower::Service<http::Request<tonic::body::Body>> for Channel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        let span = crate::telemetry::client_span(req.uri().path());
        crate::telemetry::inject_span(&span, req.headers_mut());
        let fut = tower::Service::call(&mut self.0, req);
        Box::pin(
            async move {
                let span = tracing::Span::current();
                let response = match fut.await {
                    Ok(r) => r,
                    Err(e) => {
                        crate::telemetry::record_status(&span, tonic::Code::Unavailable, false);
                        return Err(e);
                    }
                };
                // A refusal carries its status in the headers (trailers-only).
                if let Some(code) = crate::grpc_status::code_in(response.headers()) {
                    crate::telemetry::record_status(&span, code, false);
                    return Ok(response);
                }
                // Otherwise it comes with the trailers; the span ends with
                // the body.
                Ok(response.map(|body| {
                    tonic::body::Body::new(crate::grpc_status::OnStatus::new(
                        body,
                        move |code| crate::telemetry::record_status(&span, code, false),
                        None,
                    ))
                }))
            }
            .instrument(span),
        )
    }
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
    /// After a failed refresh of a stale set, wait this long before the next try.
    pub const STALE_RETRY: Duration = Duration::from_secs(30);

    /// Fetches from the identity service on `channel`.
    pub fn new(channel: impl Into<Channel>) -> Self {
        Self {
            client: IdentityServiceClient::new(channel.into()),
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
            // Only one caller refreshes a stale set; everyone else answers from
            // the current one meanwhile, so a slow or down identity never
            // queues the hot path behind it.
            if let Ok(_guard) = self.last_refresh.try_lock() {
                let still_stale = self
                    .fetched_at
                    .read()
                    .await
                    .is_some_and(|t| t.elapsed() > Self::MAX_AGE);
                if still_stale && let Err(e) = self.refresh().await {
                    // Keep the old set, and try again in STALE_RETRY rather
                    // than on every call.
                    tracing::warn!(error = %e, "could not refresh a stale identity key set");
                    let retry_at = Instant::now()
                        .checked_sub(Self::MAX_AGE.saturating_sub(Self::STALE_RETRY))
                        .unwrap_or_else(Instant::now);
                    *self.fetched_at.write().await = Some(retry_at);
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
            let outcome = self.refresh().await;
            // Stamped after the attempt, so callers that queued behind a slow
            // fetch don't each repeat it.
            *last = Some(Instant::now());
            if let Err(e) = outcome {
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
    /// The clock the services judge tokens by (the one identity issues them by).
    clock: crate::clock::SharedClock,
}

impl ServiceToken {
    /// Signs in at identity on `channel` with `credentials` when needed.
    pub fn new(
        channel: Channel,
        credentials: ServiceCredentials,
        clock: crate::clock::SharedClock,
    ) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
            credentials,
            cached: Mutex::new(None),
            clock,
        }
    }

    /// A valid access token.
    pub async fn token(&self) -> Result<String, ClientError> {
        let mut cached = self.cached.lock().await;
        if let Some((tok, exp)) = cached.as_ref()
            && *exp - self.clock.now() > chrono::Duration::seconds(60)
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
            .unwrap_or_else(|| self.clock.now());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stale_key_set_keeps_answering_while_identity_is_down() {
        // Nothing listens on port 1: every refresh fails at once.
        let set = RemoteKeySet::new(
            channel("http://127.0.0.1:1", &TlsConfig::default())
                .unwrap_or_else(|_| unreachable_channel().into()),
        );
        let (_, public) = jwt::generate_ed25519().unwrap_or_default();
        set.keys
            .write()
            .await
            .insert("k1".into(), jwt::decoding_key(&public));
        let long_ago = Instant::now().checked_sub(RemoteKeySet::MAX_AGE + Duration::from_secs(1));
        *set.fetched_at.write().await = long_ago;

        assert!(
            set.resolve("k1").await.is_some(),
            "the old key must still verify"
        );
        // The failed refresh postponed the next one instead of retrying per call.
        let age = set
            .fetched_at
            .read()
            .await
            .map(|t| t.elapsed())
            .unwrap_or_default();
        assert!(
            age < RemoteKeySet::MAX_AGE,
            "next stale refresh was not postponed: {age:?}"
        );
        assert!(set.resolve("unknown").await.is_none());
    }

    #[tokio::test]
    async fn urls_need_a_known_scheme_and_plaintext_stays_on_loopback() {
        let tls = TlsConfig::default();
        assert!(plain_channel("http://127.0.0.1:50051", &tls).is_ok());
        assert!(plain_channel("http://localhost:50051", &tls).is_ok());
        assert!(matches!(
            plain_channel("http://identity.keyholder.svc:50051", &tls),
            Err(ClientError::Tls(crate::tls::TlsError::PlaintextCall(_)))
        ));
        assert!(matches!(
            plain_channel("ftp://127.0.0.1:50051", &tls),
            Err(ClientError::BadUrl(_))
        ));
        assert!(plain_channel("https://identity.keyholder.svc:50051", &tls).is_ok());
    }

    fn unreachable_channel() -> tonic::transport::Channel {
        Endpoint::from_static("http://127.0.0.1:1").connect_lazy()
    }
}
