//! The floor: a bare tonic server whose one method answers with the request
//! it got. Same transport stack as Keyholder's services (tonic, HTTP/2, no
//! TLS), no work, no middleware.

use crate::codec::Opaque;
use bytes::Bytes;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

/// The echo method's path.
pub const METHOD: &str = "/keyholder.bench.v1.Echo/Echo";

#[derive(Debug, Clone, Copy)]
struct EchoService;

impl NamedService for EchoService {
    const NAME: &'static str = "keyholder.bench.v1.Echo";
}

struct Answer;

impl UnaryService<Bytes> for Answer {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(request.into_inner())))
    }
}

type Call =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for EchoService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Call;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Call {
        Box::pin(async move {
            if req.uri().path() == METHOD {
                Ok(tonic::server::Grpc::new(Opaque).unary(Answer, req).await)
            } else {
                Ok(Status::unimplemented("only Echo is served here").into_http())
            }
        })
    }
}

/// Serves echo on `listener` until the process is stopped. Accepted
/// connections have Nagle's algorithm off, as Keyholder's servers set them.
pub async fn serve(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    use tokio_stream::StreamExt;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok::<_, std::io::Error>(conn)
    });
    tonic::transport::Server::builder()
        .add_service(EchoService)
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
