//! Reading the chain scan from PostgreSQL's `COPY … TO STDOUT (FORMAT
//! binary)`: the full VerifyChain pass reads every row of a tenant, and the
//! binary copy hands them over as length-prefixed fields that borrow
//! straight into the verifier, without the per-row decoding a result set
//! goes through.
//!
//! The format (PostgreSQL manual, "COPY", binary format): an 11-byte
//! signature, a flags word, a header-extension length and extension; then
//! per row a field count (`-1` ends the data) and per field a length (`-1`
//! for NULL) and that many bytes. `bigint` is 8 bytes big-endian; `text` is
//! the bytes in the client encoding (UTF-8, which sqlx sets; checked here
//! per field).

use crate::domain::chain::ChainRowRef;

/// What starts every binary copy.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// How many columns the scan selects (see [`Decoder::row`]).
const COLUMNS: i16 = 11;

/// Why the copy could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// The data does not start like a binary copy.
    #[error("the binary copy does not start with PostgreSQL's signature")]
    Signature,
    /// The header asks for something this reader does not know.
    #[error("the binary copy's header has flags or an extension this reader does not know")]
    Header,
    /// A row did not have the scan's columns.
    #[error("a copied row has {0} columns, the scan selects {COLUMNS}")]
    Columns(i16),
    /// A column the scan needs was NULL or of the wrong width.
    #[error("copied column {0} is NULL or not of its type's width")]
    Field(usize),
    /// A text column was not UTF-8.
    #[error("copied column {0} is not UTF-8")]
    Utf8(usize),
    /// The data ended inside a row or before the end marker.
    #[error("the binary copy ended inside a row")]
    Truncated,
    /// Bytes came after the end marker.
    #[error("the binary copy has data after its end marker")]
    Trailing,
}

/// Where the decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Rows,
    Ended,
}

/// Decodes the copy as it arrives in chunks of any size: whole rows are
/// read in place; a row split across chunks is carried over.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    carry: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// Expects the signature first.
    pub fn new() -> Self {
        Self {
            state: State::Header,
            carry: Vec::new(),
        }
    }

    /// Feeds the next chunk, handing each whole row to `visit` until it
    /// breaks. `Ok(true)` when `visit` broke (read no further).
    pub fn feed<F>(&mut self, chunk: &[u8], visit: &mut F) -> Result<bool, CopyError>
    where
        F: FnMut(ChainRowRef<'_>) -> std::ops::ControlFlow<()>,
    {
        if self.carry.is_empty() {
            let (used, broke) = self.rows(chunk, visit)?;
            self.carry.extend_from_slice(&chunk[used..]);
            return Ok(broke);
        }
        self.carry.extend_from_slice(chunk);
        let carry = std::mem::take(&mut self.carry);
        let (used, broke) = self.rows(&carry, visit)?;
        self.carry = carry;
        self.carry.drain(..used);
        Ok(broke)
    }

    /// Checks that the copy ended where it should: at the end marker
    /// (bytes after it were refused as they arrived).
    pub fn finish(&self) -> Result<(), CopyError> {
        if self.state == State::Ended {
            Ok(())
        } else {
            Err(CopyError::Truncated)
        }
    }

    /// Reads what `b` holds whole; returns how many bytes it used.
    fn rows<F>(&mut self, b: &[u8], visit: &mut F) -> Result<(usize, bool), CopyError>
    where
        F: FnMut(ChainRowRef<'_>) -> std::ops::ControlFlow<()>,
    {
        let mut at = 0;
        loop {
            match self.state {
                State::Header => {
                    let Some(used) = header(&b[at..])? else {
                        return Ok((at, false));
                    };
                    at += used;
                    self.state = State::Rows;
                }
                State::Rows => {
                    let mut r = Reader { b, at };
                    let Some(count) = r.i16() else {
                        return Ok((at, false));
                    };
                    if count == -1 {
                        self.state = State::Ended;
                        at = r.at;
                        continue;
                    }
                    if count != COLUMNS {
                        return Err(CopyError::Columns(count));
                    }
                    let Some(row) = row(&mut r)? else {
                        return Ok((at, false));
                    };
                    at = r.at;
                    if visit(row).is_break() {
                        return Ok((at, true));
                    }
                }
                State::Ended => {
                    if at != b.len() {
                        return Err(CopyError::Trailing);
                    }
                    return Ok((at, false));
                }
            }
        }
    }
}

/// The header's length, `None` while it has not all arrived.
fn header(b: &[u8]) -> Result<Option<usize>, CopyError> {
    let Some(sig) = b.get(..SIGNATURE.len()) else {
        return if SIGNATURE.starts_with(b) {
            Ok(None)
        } else {
            Err(CopyError::Signature)
        };
    };
    if sig != SIGNATURE {
        return Err(CopyError::Signature);
    }
    let mut r = Reader {
        b,
        at: SIGNATURE.len(),
    };
    // Flags: the format says to stop at an unknown critical bit (16-31;
    // 16 is "OIDs included", which a SELECT never copies). The extension
    // area is skipped, as the format allows.
    let (Some(flags), Some(ext)) = (r.i32(), r.i32()) else {
        return Ok(None);
    };
    if flags as u32 & 0xFFFF_0000 != 0 {
        return Err(CopyError::Header);
    }
    let ext = usize::try_from(ext).map_err(|_| CopyError::Header)?;
    Ok(r.take(ext).map(|_| r.at))
}

/// One row of the scan's columns, `None` while it has not all arrived.
fn row<'a>(r: &mut Reader<'a>) -> Result<Option<ChainRowRef<'a>>, CopyError> {
    macro_rules! field {
        ($n:expr, $read:ident) => {
            match r.$read($n)? {
                Some(v) => v,
                None => return Ok(None),
            }
        };
    }
    Ok(Some(ChainRowRef {
        sequence: field!(0, bigint),
        tenant_id: field!(1, text),
        event_id: field!(2, text),
        kind: field!(3, text),
        occur_time_us: field!(4, bigint),
        agent_id: field!(5, text),
        session_id: field!(6, text),
        grant_id: field!(7, text),
        content: field!(8, text),
        prev_hash: field!(9, text),
        hash: field!(10, text),
    }))
}

/// A position in a chunk; every read is `None` when the chunk ends first.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn i16(&mut self) -> Option<i16> {
        self.take(2)
            .and_then(|s| s.try_into().ok())
            .map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .and_then(|s| s.try_into().ok())
            .map(i32::from_be_bytes)
    }

    /// A non-NULL field's bytes.
    fn field(&mut self, n: usize) -> Result<Option<&'a [u8]>, CopyError> {
        let Some(len) = self.i32() else {
            return Ok(None);
        };
        let len = usize::try_from(len).map_err(|_| CopyError::Field(n))?;
        Ok(self.take(len))
    }

    fn bigint(&mut self, n: usize) -> Result<Option<i64>, CopyError> {
        match self.field(n)? {
            None => Ok(None),
            Some(s) => s
                .try_into()
                .map(|b| Some(i64::from_be_bytes(b)))
                .map_err(|_| CopyError::Field(n)),
        }
    }

    fn text(&mut self, n: usize) -> Result<Option<&'a str>, CopyError> {
        match self.field(n)? {
            None => Ok(None),
            Some(s) => std::str::from_utf8(s)
                .map(Some)
                .map_err(|_| CopyError::Utf8(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::ops::ControlFlow;

    /// A binary copy of `rows` as PostgreSQL writes it.
    fn copy_of(rows: &[(i64, &str)]) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend(0i32.to_be_bytes());
        b.extend(4i32.to_be_bytes());
        b.extend(b"ext!");
        for (seq, content) in rows {
            b.extend(COLUMNS.to_be_bytes());
            let mut big = |v: i64| {
                b.extend(8i32.to_be_bytes());
                b.extend(v.to_be_bytes());
            };
            big(*seq);
            let texts = [
                "t-1",
                "e",
                "session.signed_in",
                "",
                "s-1",
                "g-1",
                content,
                "prev",
                "hash",
            ];
            for (i, t) in texts.iter().enumerate() {
                if i == 3 {
                    b.extend(8i32.to_be_bytes());
                    b.extend((seq * 1000).to_be_bytes());
                }
                b.extend(i32::try_from(t.len()).unwrap().to_be_bytes());
                b.extend(t.as_bytes());
            }
        }
        b.extend((-1i16).to_be_bytes());
        b
    }

    /// (sequence, occur time, agent, content) of every row read.
    fn read(chunks: &[&[u8]]) -> Result<Vec<(i64, i64, String, String)>, CopyError> {
        let mut d = Decoder::new();
        let mut seen = Vec::new();
        let mut visit = |r: ChainRowRef<'_>| {
            assert_eq!(
                (r.tenant_id, r.kind, r.session_id, r.grant_id),
                ("t-1", "session.signed_in", "s-1", "g-1")
            );
            assert_eq!((r.event_id, r.prev_hash, r.hash), ("e", "prev", "hash"));
            seen.push((
                r.sequence,
                r.occur_time_us,
                r.agent_id.to_string(),
                r.content.to_string(),
            ));
            ControlFlow::Continue(())
        };
        for c in chunks {
            d.feed(c, &mut visit)?;
        }
        d.finish()?;
        Ok(seen)
    }

    fn expected(rows: &[(i64, &str)]) -> Vec<(i64, i64, String, String)> {
        rows.iter()
            .map(|(s, c)| (*s, s * 1000, String::new(), (*c).to_string()))
            .collect()
    }

    #[test]
    fn rows_read_whole_and_split_at_every_byte() {
        let rows = [(1, "{\"a\":1}"), (2, "ünïcode"), (3, "")];
        let b = copy_of(&rows);
        assert_eq!(read(&[&b]).unwrap(), expected(&rows));
        for cut in 0..b.len() {
            let (x, y) = b.split_at(cut);
            assert_eq!(read(&[x, y]).unwrap(), expected(&rows), "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = b.chunks(1).collect();
        assert_eq!(read(&bytes).unwrap(), expected(&rows));
    }

    #[test]
    fn an_empty_scan_is_the_header_and_the_end_marker() {
        assert_eq!(read(&[&copy_of(&[])]).unwrap(), vec![]);
    }

    #[test]
    fn a_break_stops_the_reading() {
        let b = copy_of(&[(1, "a"), (2, "b"), (3, "c")]);
        let mut d = Decoder::new();
        let mut seen = 0;
        let broke = d
            .feed(&b, &mut |_| {
                seen += 1;
                if seen == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert!(broke);
        assert_eq!(seen, 2);
    }

    #[test]
    fn damaged_copies_are_refused_with_the_reason() {
        let good = copy_of(&[(1, "a")]);
        let header = SIGNATURE.len() + 8 + 4;

        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(read(&[&bad]), Err(CopyError::Signature));
        let mut oids = good.clone();
        oids[SIGNATURE.len()..SIGNATURE.len() + 4].copy_from_slice(&(1i32 << 16).to_be_bytes());
        assert_eq!(read(&[&oids]), Err(CopyError::Header));
        let mut ext = good.clone();
        ext[SIGNATURE.len() + 4..SIGNATURE.len() + 8].copy_from_slice(&(-4i32).to_be_bytes());
        assert_eq!(read(&[&ext]), Err(CopyError::Header));

        assert_eq!(read(&[&good[..good.len() - 1]]), Err(CopyError::Truncated));
        assert_eq!(read(&[&good[..header]]), Err(CopyError::Truncated));

        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(read(&[&extra]), Err(CopyError::Trailing));

        let mut columns = good.clone();
        columns[header..header + 2].copy_from_slice(&10i16.to_be_bytes());
        assert_eq!(read(&[&columns]), Err(CopyError::Columns(10)));

        // The first field (sequence) NULL, then 4 bytes wide.
        let mut null = good.clone();
        null[header + 2..header + 6].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(read(&[&null]), Err(CopyError::Field(0)));
        let mut narrow = good.clone();
        narrow[header + 2..header + 6].copy_from_slice(&4i32.to_be_bytes());
        assert_eq!(read(&[&narrow]), Err(CopyError::Field(0)));

        // Invalid UTF-8 in the tenant column (3 bytes after sequence).
        let mut latin = good.clone();
        let tenant = header + 2 + 4 + 8 + 4;
        latin[tenant] = 0xff;
        assert_eq!(read(&[&latin]), Err(CopyError::Utf8(1)));
    }
}
