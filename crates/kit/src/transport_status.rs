//! Plain answers for requests tonic refuses before a handler runs. tonic
//! answers undecodable bytes with INTERNAL "failed to decode Protobuf
//! message: …" (the caller's fault, not ours) and an oversized message with
//! OUT_OF_RANGE (gRPC's convention is RESOURCE_EXHAUSTED). Both come back as
//! trailers-only responses, status in the headers, so this layer rewrites
//! those headers; every other response passes untouched.

use http::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::{Code, Status};

/// The largest request message a service decodes, in bytes: tonic's own
/// default, stated here so the refusal can name it. Keyholder's messages are
/// small; the biggest (an audit batch) stays far below this.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What a caller is told when its message does not decode.
pub const UNDECODABLE: &str = "the request message could not be decoded";

/// The plain status for one of tonic's own refusals, if `status` is one.
fn replacement(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        // prost's DecodeError, and a body that ended before the message.
        Code::Internal
            if message.starts_with("failed to decode Protobuf message")
                || message == "Missing request message." =>
        {
            Some(Status::invalid_argument(UNDECODABLE))
        }
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => {
            Some(Status::resource_exhausted(format!(
                "the request message is larger than the limit of {MAX_REQUEST_BYTES} bytes"
            )))
        }
        _ => None,
    }
}

/// Rewrites a trailers-only response's status, if it is one of tonic's.
fn rewrite(path: &str, headers: &mut HeaderMap, extensions: &mut http::Extensions) {
    let Some(original) = Status::from_header_map(headers) else {
        return;
    };
    let Some(plain) = replacement(&original) else {
        return;
    };
    tracing::debug!(
        path,
        code = ?original.code(),
        detail = %crate::error::public_text(original.message()),
        "request refused by the transport"
    );
    headers.remove("grpc-message");
    headers.remove("grpc-status-details-bin");
    if plain.add_header(headers).is_err() {
        // Our own ASCII messages always encode; keep tonic's answer if not.
        return;
    }
    extensions.insert(plain);
}

/// The layer, mounted once in `serve`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransportStatusLayer;

impl<S> tower::Layer<S> for TransportStatusLayer {
    type Service = TransportStatus<S>;

    fn layer(&self, inner: S) -> TransportStatus<S> {
        TransportStatus { inner }
    }
}

/// A service whose transport refusals read plainly.
#[derive(Debug, Clone)]
pub struct TransportStatus<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for TransportStatus<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path().to_string();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let (mut parts, body) = fut.await?.into_parts();
            rewrite(&path, &mut parts.headers, &mut parts.extensions);
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: Status) -> http::Response<()> {
        let mut response = status.into_http::<()>();
        let (mut parts, body) = response.into_parts();
        rewrite("/x.v1.S/M", &mut parts.headers, &mut parts.extensions);
        response = http::Response::from_parts(parts, body);
        response
    }

    fn status_of(response: &http::Response<()>) -> Option<Status> {
        Status::from_header_map(response.headers())
    }

    #[test]
    fn undecodable_bytes_are_the_callers_mistake() {
        let r = refused(Status::internal(
            "failed to decode Protobuf message: invalid wire type: EndGroup (expected LengthDelimited)",
        ));
        let s = status_of(&r);
        assert_eq!(s.as_ref().map(Status::code), Some(Code::InvalidArgument));
        assert_eq!(s.as_ref().map(Status::message), Some(UNDECODABLE));
        let ext = r.extensions().get::<Status>().map(Status::code);
        assert_eq!(ext, Some(Code::InvalidArgument));
    }

    #[test]
    fn oversized_messages_exhaust_a_resource() {
        let r = refused(Status::out_of_range(
            "Error, decoded message length too large: found 10485765 bytes, the limit is: 4194304 bytes",
        ));
        let s = status_of(&r);
        assert_eq!(s.as_ref().map(Status::code), Some(Code::ResourceExhausted));
        assert_eq!(
            s.as_ref().map(Status::message),
            Some("the request message is larger than the limit of 4194304 bytes")
        );
    }

    #[test]
    fn other_answers_pass_untouched() {
        for status in [
            Status::internal("internal error; the service log has the details"),
            Status::out_of_range("something else"),
            Status::not_found("tenant t1 not found"),
        ] {
            let r = refused(status.clone());
            let s = status_of(&r);
            assert_eq!(s.as_ref().map(Status::code), Some(status.code()));
            assert_eq!(s.as_ref().map(Status::message), Some(status.message()));
        }
        let (mut parts, _) = http::Response::new(()).into_parts();
        rewrite("/x", &mut parts.headers, &mut parts.extensions);
        assert!(parts.headers.is_empty());
    }
}
