//! No panic reaches a client: a handler that panics (a bug, or a library
//! unwrapping what it should not) is answered with INTERNAL, a generic
//! sentence and a correlation id, and one error line in the log under that id
//! — instead of a dropped stream and a dead worker.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The panic's own words, when it has some.
fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The answer to a panic in a call to `path`.
fn answer<B: Default>(path: &str, payload: &(dyn Any + Send)) -> http::Response<B> {
    let detail = format!("handler of {path} panicked: {}", panic_text(payload));
    crate::error::internal_status(&detail, "handler panicked").into_http()
}

/// The layer, mounted once in `serve`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl<S> tower::Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// A service whose panics become INTERNAL answers.
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

/// Polls the inner future, catching a panic in any poll. The future is
/// dropped after a panic and never polled again, which is what makes
/// `AssertUnwindSafe` sound here: no broken state is looked at afterwards.
struct Guarded<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for CatchPanic<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path().to_string();
        let inner = &mut self.inner;
        let fut = match catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
            Ok(fut) => fut,
            Err(payload) => {
                let response = answer(&path, payload.as_ref());
                return Box::pin(async move { Ok(response) });
            }
        };
        Box::pin(async move {
            match (Guarded {
                inner: Box::pin(fut),
            })
            .await
            {
                Ok(result) => result,
                Err(payload) => Ok(answer(&path, payload.as_ref())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};
    use tower::{Layer, Service};

    /// Panics in `call` or in its future, as asked.
    #[derive(Clone, Copy)]
    enum Boom {
        InCall,
        InFuture,
        Not,
    }

    impl Service<http::Request<()>> for Boom {
        type Response = http::Response<()>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Result<http::Response<()>, std::convert::Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        #[allow(clippy::panic)]
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let this = *self;
            if matches!(this, Boom::InCall) {
                panic!("boom in call");
            }
            Box::pin(async move {
                tokio::task::yield_now().await;
                if matches!(this, Boom::InFuture) {
                    let big: u64 = u64::MAX;
                    let _ = i64::try_from(big).map_err(|e| panic!("unwrapped: {e}"));
                }
                Ok(http::Response::new(()))
            })
        }
    }

    async fn call(boom: Boom) -> http::Response<()> {
        let mut svc = CatchPanicLayer.layer(boom);
        let req = http::Request::builder()
            .uri("/keyholder.identity.v1.IdentityService/ListTenants")
            .body(())
            .unwrap_or_default();
        match svc.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    #[tokio::test]
    async fn a_panic_becomes_internal_with_a_correlation_id() {
        for boom in [Boom::InCall, Boom::InFuture] {
            let r = call(boom).await;
            let s = Status::from_header_map(r.headers());
            assert_eq!(s.as_ref().map(Status::code), Some(Code::Internal));
            let msg = s.map(|s| s.message().to_string()).unwrap_or_default();
            assert!(msg.contains("correlation id "), "{msg}");
            assert!(!msg.contains("boom") && !msg.contains("unwrapped"), "{msg}");
        }
    }

    #[tokio::test]
    async fn calls_that_do_not_panic_pass_untouched() {
        let r = call(Boom::Not).await;
        assert!(r.headers().is_empty());
    }
}
