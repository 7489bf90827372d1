//! The one gate every Keyholder service mounts in front of its handlers: it
//! verifies the bearer token (for this service's audience), applies the
//! principal's live standing, and hands the handler the caller through the
//! request's extensions. Handlers never authenticate by themselves; what
//! differs between services is the standing hook and the list of public
//! methods (sign-in and the like).

use crate::auth::{AuthError, Authenticator, Principal};
use crate::standing::StandingCheck;
use http::HeaderMap;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the gate found: the verified caller and its token's `exp`.
#[derive(Debug, Clone)]
pub struct Verified(pub Arc<(Principal, i64)>);

/// The caller the gate put on this request. A handler of a public method
/// (or a request that bypassed the gate) gets `MissingToken`.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Arc<(Principal, i64)>, AuthError> {
    req.extensions()
        .get::<Verified>()
        .map(|v| v.0.clone())
        .ok_or(AuthError::MissingToken)
}

/// The same, as a plain principal.
pub fn principal<T>(req: &tonic::Request<T>) -> Result<Principal, AuthError> {
    caller(req).map(|c| c.0.clone())
}

struct Shared {
    auth: Authenticator,
    standing: Arc<dyn StandingCheck>,
    public: HashSet<String>,
}

impl Shared {
    /// Health and reflection are for probes and tools; the service's public
    /// methods are its sign-in doors.
    fn is_public(&self, path: &str) -> bool {
        path.starts_with("/grpc.health.")
            || path.starts_with("/grpc.reflection.")
            || self.public.contains(path)
    }

    async fn admit(&self, headers: &HeaderMap) -> Result<Arc<(Principal, i64)>, AuthError> {
        let token = bearer(headers)?;
        let verified = self.auth.verify_cached(token).await?;
        self.standing.check(&verified.0).await?;
        Ok(verified)
    }
}

/// The bearer token of an HTTP/2 request.
fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    crate::auth::bearer_in(
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Whether the bearer (if any) is an identity access token (`typ: at+jwt`),
/// as opposed to another credential such as a support session token.
fn offers_access_token(headers: &HeaderMap) -> bool {
    bearer(headers)
        .ok()
        .and_then(|t| jsonwebtoken::decode_header(t).ok())
        .and_then(|h| h.typ)
        .is_some_and(|t| t == crate::auth::ACCESS_TOKEN_TYPE)
}

/// The gate as a tower layer.
#[derive(Clone)]
pub struct Gate {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("public", &self.shared.public)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate verifying with `auth`, applying `standing`, and letting the
    /// full method paths in `public` through unauthenticated.
    pub fn new(auth: Authenticator, standing: Arc<dyn StandingCheck>, public: &[&str]) -> Self {
        Self {
            shared: Arc::new(Shared {
                auth,
                standing,
                public: public.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }
}

impl<S> tower::Layer<S> for Gate {
    type Service = Gated<S>;

    fn layer(&self, inner: S) -> Gated<S> {
        Gated {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// A service behind the gate.
#[derive(Clone)]
pub struct Gated<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> tower::Service<http::Request<B>> for Gated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone is fresh and not ready; the ready one serves this call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let shared = self.shared.clone();
        Box::pin(async move {
            // A public method checks its own credential (password, refresh
            // token, session token); it is authenticated here only when the
            // caller offers an access token, which must then be good.
            if shared.is_public(req.uri().path()) && !offers_access_token(req.headers()) {
                return inner.call(req).await;
            }
            match shared.admit(req.headers()).await {
                Ok(verified) => {
                    let caller = crate::metrics::CallerId(verified.clone());
                    req.extensions_mut().insert(Verified(verified));
                    let mut response = inner.call(req).await?;
                    response.extensions_mut().insert(caller);
                    Ok(response)
                }
                Err(e) => {
                    tracing::debug!(path = %req.uri().path(), error = %e, "call refused at the gate");
                    Ok(crate::error::to_status(&e).into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), Err(AuthError::MissingToken));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer  "),
        );
        assert_eq!(bearer(&h), Err(AuthError::MissingToken));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer t.o.k"),
        );
        assert_eq!(bearer(&h), Ok("t.o.k"));
    }
}
