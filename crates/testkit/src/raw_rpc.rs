//! Calling any RPC of the suite by its path with raw bytes as the message:
//! how the lowering, fuzz and bad-input tests reach every RPC without
//! naming each one. The RPCs come from the descriptor set, so a new RPC is
//! covered without anyone remembering to add it.

use crate::{Suite, bearer};
use prost::Message;
use prost::bytes::{Buf, BufMut};
use std::str::FromStr;
use std::time::Duration;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// One RPC of the suite, as the descriptors describe it.
#[derive(Debug, Clone)]
pub struct Rpc {
    /// `/package.Service/Method`.
    pub path: String,
    /// `package.Service`.
    pub service: String,
    /// Whether the server answers with a stream.
    pub streaming: bool,
}

/// Every RPC in the descriptor set, in descriptor order.
pub fn all_rpcs() -> Vec<Rpc> {
    let set = prost_types::FileDescriptorSet::decode(keyholder_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    let mut out = Vec::new();
    for file in set.file {
        let package = file.package().to_string();
        for svc in &file.service {
            for m in &svc.method {
                out.push(Rpc {
                    path: format!("/{package}.{}/{}", svc.name(), m.name()),
                    service: format!("{package}.{}", svc.name()),
                    streaming: m.server_streaming(),
                });
            }
        }
    }
    out
}

/// Channels to a suite's three services.
#[derive(Clone)]
pub struct Ports {
    identity: Channel,
    broker: Channel,
    audit: Channel,
}

impl Ports {
    /// Channels to the suite's three services.
    pub fn of_suite(suite: &Suite) -> Self {
        Self {
            identity: suite.channel(crate::addr_in(&suite.config.identity.url)),
            broker: suite.channel(suite.config.broker.listen),
            audit: suite.channel(crate::addr_in(&suite.config.audit.url)),
        }
    }

    /// The channel to the service that serves `rpc`.
    pub fn of(&self, rpc: &Rpc) -> Channel {
        if rpc.service.starts_with("keyholder.identity.") {
            self.identity.clone()
        } else if rpc.service.starts_with("keyholder.broker.") {
            self.broker.clone()
        } else {
            self.audit.clone()
        }
    }
}

/// A codec that sends whatever bytes it is given as the request message and
/// discards the answer's bytes.
#[derive(Default, Clone, Copy)]
pub struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// Calls `rpc` with `body` as the raw request message (an empty token sends
/// none); the status code and message. A stream counts as answered at its
/// first message; ten seconds without an answer is `DEADLINE_EXCEEDED`.
pub async fn call_raw(ch: Channel, rpc: &Rpc, token: &str, body: Vec<u8>) -> (Code, String) {
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready().await.expect("channel ready");
    let path = http::uri::PathAndQuery::from_str(&rpc.path).expect("path");
    let req = if token.is_empty() {
        tonic::Request::new(body)
    } else {
        bearer(body, token)
    };
    let outcome = async {
        if rpc.streaming {
            let mut stream = grpc.server_streaming(req, path, Raw).await?.into_inner();
            stream.message().await.map(|_| ())
        } else {
            grpc.unary(req, path, Raw).await.map(|_| ())
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), outcome).await {
        Ok(Ok(())) => (Code::Ok, String::new()),
        Ok(Err(s)) => (s.code(), s.message().to_string()),
        Err(_) => (Code::DeadlineExceeded, "timed out".into()),
    }
}

/// Whether a status code means the server crashed on a call rather than
/// answering it: a panic (INTERNAL via the catch-panic layer, or a reset
/// stream, CANCELLED), UNKNOWN, or DATA_LOSS.
pub fn is_crash(code: Code) -> bool {
    matches!(
        code,
        Code::Internal | Code::Unknown | Code::Cancelled | Code::DataLoss
    )
}
