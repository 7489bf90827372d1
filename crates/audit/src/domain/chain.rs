//! The per-tenant hash chain: each row's hash covers the previous row's hash
//! and its own canonical content, so editing, deleting or reordering a row
//! breaks a link that [`Verifier`] can name. Signed checkpoints catch a
//! truncated tail, which a chain alone cannot.

use super::event::Kind;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// The `prev_hash` of a tenant's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Hex SHA-256 over `prev_hash`, a newline and `content`.
pub fn link_hash(prev_hash: &str, content: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    hex::encode(h.finalize())
}

/// Length of a hex SHA-256.
pub const HASH_HEX_LEN: usize = 64;

/// Hex SHA-256 over `prev_hash`, a newline and `content`, written into `out`
/// (no allocation: the verifier calls this once per row).
pub fn link_hash_into(prev_hash: &[u8], content: &[u8], out: &mut [u8; HASH_HEX_LEN]) {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(b"\n");
    h.update(content);
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(h.finalize(), out);
}

/// A stored row, as far as verification is concerned.
#[derive(Debug, Clone)]
pub struct ChainRow {
    /// Sequence column.
    pub sequence: i64,
    /// Tenant column.
    pub tenant_id: String,
    /// Event id column.
    pub event_id: String,
    /// Kind column.
    pub kind: String,
    /// Occur-time column (microseconds).
    pub occur_time_us: i64,
    /// Agent column.
    pub agent_id: String,
    /// Session column.
    pub session_id: String,
    /// Grant column.
    pub grant_id: String,
    /// The hashed content.
    pub content: String,
    /// Stored previous hash.
    pub prev_hash: String,
    /// Stored hash.
    pub hash: String,
}

impl ChainRow {
    /// The row borrowed, as the verifier reads it.
    pub fn as_ref(&self) -> ChainRowRef<'_> {
        ChainRowRef {
            sequence: self.sequence,
            tenant_id: &self.tenant_id,
            event_id: &self.event_id,
            kind: &self.kind,
            occur_time_us: self.occur_time_us,
            agent_id: &self.agent_id,
            session_id: &self.session_id,
            grant_id: &self.grant_id,
            content: &self.content,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// A stored row borrowed from the database driver's buffer, so streaming
/// verification copies nothing per row.
#[derive(Debug, Clone, Copy)]
pub struct ChainRowRef<'a> {
    /// Sequence column.
    pub sequence: i64,
    /// Tenant column.
    pub tenant_id: &'a str,
    /// Event id column.
    pub event_id: &'a str,
    /// Kind column.
    pub kind: &'a str,
    /// Occur-time column (microseconds).
    pub occur_time_us: i64,
    /// Agent column.
    pub agent_id: &'a str,
    /// Session column.
    pub session_id: &'a str,
    /// Grant column.
    pub grant_id: &'a str,
    /// The hashed content, exactly as stored.
    pub content: &'a str,
    /// Stored previous hash.
    pub prev_hash: &'a str,
    /// Stored hash.
    pub hash: &'a str,
}

/// The first broken link found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Where.
    pub sequence: i64,
    /// What, in words.
    pub problem: String,
}

/// Checks rows in sequence order, from the start or from a trusted point.
#[derive(Debug, Clone)]
pub struct Verifier {
    next_sequence: i64,
    head_hash: [u8; HASH_HEX_LEN],
    checked: i64,
}

impl Verifier {
    /// Starts at the beginning of a chain.
    pub fn new() -> Self {
        Self::after(0, GENESIS.to_string())
    }

    /// Starts after a trusted row (e.g. a verified checkpoint). A hash that
    /// is not 64 characters long cannot be a link, so nothing will follow it.
    pub fn after(sequence: i64, hash: String) -> Self {
        // No stored hash is all 'x': after a malformed one, every next row
        // fails its link.
        let mut head_hash = [b'x'; HASH_HEX_LEN];
        if hash.len() == HASH_HEX_LEN {
            head_hash.copy_from_slice(hash.as_bytes());
        }
        Self {
            next_sequence: sequence + 1,
            head_hash,
            checked: 0,
        }
    }

    /// Rows checked so far.
    pub fn checked(&self) -> i64 {
        self.checked
    }

    /// Sequence and hash of the last good row.
    pub fn head(&self) -> (i64, &str) {
        (
            self.next_sequence - 1,
            std::str::from_utf8(&self.head_hash).unwrap_or(GENESIS),
        )
    }

    /// Checks the next row.
    pub fn check(&mut self, row: &ChainRow) -> Result<(), Broken> {
        self.check_ref(&row.as_ref())
    }

    /// Checks the next row, borrowed: hashes the stored content bytes as
    /// they are and compares in place, allocating only to report a break.
    pub fn check_ref(&mut self, row: &ChainRowRef<'_>) -> Result<(), Broken> {
        let expected = self.next_sequence;
        let broken = |problem: String| Broken {
            sequence: expected,
            problem,
        };
        if row.sequence > expected {
            return Err(broken(format!(
                "event {expected} is missing: the log jumps from {} to {} (a row was deleted)",
                expected - 1,
                row.sequence
            )));
        }
        if row.sequence < expected {
            return Err(broken(format!(
                "sequence {} appears twice or out of order",
                row.sequence
            )));
        }
        if row.prev_hash.as_bytes() != self.head_hash {
            return Err(broken(format!(
                "event {expected} does not follow event {}: its previous-hash link does not match (rows were reordered or replaced)",
                expected - 1
            )));
        }
        let mut computed = [0u8; HASH_HEX_LEN];
        link_hash_into(&self.head_hash, row.content.as_bytes(), &mut computed);
        if row.hash.as_bytes() != computed {
            return Err(broken(format!(
                "event {expected} was edited: its content no longer matches its hash"
            )));
        }
        if !columns_match(row) {
            return Err(broken(format!(
                "event {expected} was edited: its columns disagree with its hashed content"
            )));
        }
        self.head_hash = computed;
        self.next_sequence += 1;
        self.checked += 1;
        Ok(())
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

/// The filter columns' copies inside the canonical content, borrowed where
/// the JSON has no escapes; every other field is skipped unread.
#[derive(Deserialize)]
struct Columns<'a> {
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
    sequence: i64,
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    occur_time: Cow<'a, str>,
    #[serde(borrow)]
    agent: Option<AgentId<'a>>,
    #[serde(borrow)]
    grant_id: Cow<'a, str>,
    #[serde(borrow)]
    session_id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct AgentId<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// Whether the row's filter columns equal their copies in its content: on
/// the cheap scan when it can read the content, else on a full parse (which
/// also decides every row the scan leaves to it).
fn columns_match(row: &ChainRowRef<'_>) -> bool {
    match super::content_scan::scan(row.content) {
        Some(f) if filter_matches(row, &f) => true,
        _ => parsed_columns_match(row),
    }
}

/// The one comparison of a row's filter columns with their copies, however
/// the copies were read.
fn filter_matches(row: &ChainRowRef<'_>, f: &super::content_scan::Filter<'_>) -> bool {
    f.sequence == row.sequence
        && f.tenant_id == row.tenant_id
        && f.event_id == row.event_id
        && f.kind == row.kind
        && Kind::parse(f.kind).is_some()
        && stored_time(f.occur_time) == Some(row.occur_time_us)
        && f.agent_id == row.agent_id
        && f.session_id == row.session_id
        && f.grant_id == row.grant_id
}

/// An RFC 3339 time as a stored instant.
fn stored_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| keyholder_kit::instant::to_stored(t.with_timezone(&chrono::Utc)))
        .ok()
}

fn parsed_columns_match(row: &ChainRowRef<'_>) -> bool {
    let Ok(c) = serde_json::from_str::<Columns<'_>>(row.content) else {
        return false;
    };
    let f = super::content_scan::Filter {
        tenant_id: &c.tenant_id,
        sequence: c.sequence,
        event_id: &c.event_id,
        kind: &c.kind,
        occur_time: &c.occur_time,
        agent_id: c.agent.as_ref().map(|a| a.id.as_ref()).unwrap_or(""),
        grant_id: &c.grant_id,
        session_id: &c.session_id,
    };
    filter_matches(row, &f)
}

/// The message a checkpoint signature covers.
pub fn checkpoint_message(tenant_id: &str, sequence: i64, hash: &str) -> Vec<u8> {
    format!("keyholder-audit-checkpoint/v1\n{tenant_id}\n{sequence}\n{hash}").into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::event::tests::sample;

    fn chain(n: i64) -> Vec<ChainRow> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let e = sample(&format!("e{seq}"));
                let content = e.canonical(seq).unwrap();
                let hash = link_hash(&prev, &content);
                let row = ChainRow {
                    sequence: seq,
                    tenant_id: e.tenant_id.clone(),
                    event_id: e.event_id.clone(),
                    kind: e.kind.as_str().into(),
                    occur_time_us: keyholder_kit::instant::to_stored(e.occur_time),
                    agent_id: e.agent_id().into(),
                    session_id: e.session_id.clone(),
                    grant_id: e.grant_id.clone(),
                    content,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[ChainRow]) -> Result<i64, Broken> {
        let mut v = Verifier::new();
        for r in rows {
            v.check(r)?;
        }
        Ok(v.checked())
    }

    /// The cheap scan and the full parse agree on every row, intact or
    /// with any one filter column changed.
    #[test]
    fn the_scan_and_the_parse_agree_on_each_column() {
        let base = chain(1).remove(0);
        let mut rows = vec![base.clone()];
        let edits: [fn(&mut ChainRow); 8] = [
            |r| r.sequence += 1,
            |r| r.tenant_id.push('x'),
            |r| r.event_id.push('x'),
            |r| r.kind = "SIGN_OUT".into(),
            |r| r.occur_time_us += 1,
            |r| r.agent_id.push('x'),
            |r| r.session_id.push('x'),
            |r| r.grant_id.push('x'),
        ];
        for edit in edits {
            let mut r = base.clone();
            edit(&mut r);
            rows.push(r);
        }
        for (n, r) in rows.iter().enumerate() {
            let row = r.as_ref();
            let f = crate::domain::content_scan::scan(row.content).unwrap();
            let scanned = filter_matches(&row, &f);
            assert_eq!(scanned, parsed_columns_match(&row), "row {n}");
            assert_eq!(scanned, n == 0, "row {n}");
            assert_eq!(columns_match(&row), n == 0, "row {n}");
        }
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(4)), Ok(4));
    }

    #[test]
    fn edit_delete_reorder_are_named() {
        let mut rows = chain(4);
        rows[2].content = rows[2].content.replace("fix import", "nothing");
        assert_eq!(verify(&rows).unwrap_err().sequence, 3);
        assert!(verify(&rows).unwrap_err().problem.contains("edited"));

        let mut rows = chain(4);
        rows.remove(1);
        let b = verify(&rows).unwrap_err();
        assert_eq!(b.sequence, 2);
        assert!(b.problem.contains("missing"));

        let mut rows = chain(4);
        rows.swap(1, 2);
        rows[1].sequence = 2;
        rows[2].sequence = 3;
        let b = verify(&rows).unwrap_err();
        assert_eq!(b.sequence, 2);
        assert!(b.problem.contains("reordered"));

        let mut rows = chain(4);
        rows[3].kind = "ACTION".into();
        assert!(
            verify(&rows)
                .unwrap_err()
                .problem
                .contains("columns disagree")
        );
    }
}
