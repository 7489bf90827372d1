//! A call's final gRPC status, seen as its response goes by: in the headers
//! of a trailers-only answer (a refusal), otherwise in the trailers at the
//! end of the body. The server's metrics and access log and the client's
//! span both need it; this is the one place that reads it.

use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::Code;

/// The status in `headers` (response headers or trailers), if any.
pub fn code_in(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
}

/// A response body that calls `on_status` once, when the trailers pass
/// (UNKNOWN if the body ends or fails without them), or with `if_dropped`
/// when the body is dropped first and that is set.
pub struct OnStatus<B, F: FnOnce(Code)> {
    inner: B,
    on_status: Option<F>,
    if_dropped: Option<Code>,
}

impl<B, F: FnOnce(Code)> OnStatus<B, F> {
    /// Watches `inner`.
    pub fn new(inner: B, on_status: F, if_dropped: Option<Code>) -> Self {
        Self {
            inner,
            on_status: Some(on_status),
            if_dropped,
        }
    }
}

impl<B, F: FnOnce(Code)> Drop for OnStatus<B, F> {
    fn drop(&mut self) {
        if let (Some(code), Some(f)) = (self.if_dropped, self.on_status.take()) {
            f(code);
        }
    }
}

impl<B, F> Body for OnStatus<B, F>
where
    B: Body + Unpin,
    F: FnOnce(Code) + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame
                .trailers_ref()
                .map(|t| code_in(t).unwrap_or(Code::Unknown)),
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => Some(Code::Unknown),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(f) = this.on_status.take()
        {
            f(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn seen() -> (Arc<Mutex<Vec<Code>>>, impl FnOnce(Code) + Unpin) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        (log, move |c| l.lock().map(|mut v| v.push(c)).unwrap_or(()))
    }

    #[test]
    fn the_status_is_read_from_headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(code_in(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("16"));
        assert_eq!(code_in(&h), Some(Code::Unauthenticated));
    }

    #[test]
    fn a_dropped_body_reports_only_when_asked() {
        let (log, f) = seen();
        drop(OnStatus::new((), f, Some(Code::Cancelled)));
        assert_eq!(
            *log.lock().unwrap_or_else(|e| e.into_inner()),
            vec![Code::Cancelled]
        );
        let (log, f) = seen();
        drop(OnStatus::new((), f, None));
        assert!(log.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
    }
}
