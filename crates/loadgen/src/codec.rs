//! Messages as opaque bytes: the generator sends a pre-encoded request and
//! reads the answer's bytes without decoding them, and the echo server
//! returns what it got. Both sides then do the same work for any method.

use bytes::{Buf, BufMut, Bytes};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// The byte-passing codec.
#[derive(Debug, Default, Clone, Copy)]
pub struct Opaque;

impl Codec for Opaque {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Opaque;
    type Decoder = Opaque;

    fn encoder(&mut self) -> Opaque {
        Opaque
    }

    fn decoder(&mut self) -> Opaque {
        Opaque
    }
}

impl Encoder for Opaque {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Opaque {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
