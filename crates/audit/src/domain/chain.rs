//! The per-tenant hash chain: each row's hash covers the previous row's hash
//! and its own canonical content, so editing, deleting or reordering a row
//! breaks a link that [`Verifier`] can name. Signed checkpoints catch a
//! truncated tail, which a chain alone cannot.

use super::event::NewEvent;
use sha2::{Digest, Sha256};

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
    pub occur_time: i64,
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
    head_hash: String,
    checked: i64,
}

impl Verifier {
    /// Starts at the beginning of a chain.
    pub fn new() -> Self {
        Self::after(0, GENESIS.to_string())
    }

    /// Starts after a trusted row (e.g. a verified checkpoint).
    pub fn after(sequence: i64, hash: String) -> Self {
        Self {
            next_sequence: sequence + 1,
            head_hash: hash,
            checked: 0,
        }
    }

    /// Rows checked so far.
    pub fn checked(&self) -> i64 {
        self.checked
    }

    /// Sequence and hash of the last good row.
    pub fn head(&self) -> (i64, &str) {
        (self.next_sequence - 1, &self.head_hash)
    }

    /// Checks the next row.
    pub fn check(&mut self, row: &ChainRow) -> Result<(), Broken> {
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
        if row.prev_hash != self.head_hash {
            return Err(broken(format!(
                "event {expected} does not follow event {}: its previous-hash link does not match (rows were reordered or replaced)",
                expected - 1
            )));
        }
        if link_hash(&row.prev_hash, &row.content) != row.hash {
            return Err(broken(format!(
                "event {expected} was edited: its content no longer matches its hash"
            )));
        }
        if !columns_match(row) {
            return Err(broken(format!(
                "event {expected} was edited: its columns disagree with its hashed content"
            )));
        }
        self.head_hash = row.hash.clone();
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

fn columns_match(row: &ChainRow) -> bool {
    let Some((sequence, e)) = NewEvent::from_canonical(&row.content) else {
        return false;
    };
    sequence == row.sequence
        && e.tenant_id == row.tenant_id
        && e.event_id == row.event_id
        && e.kind.as_str() == row.kind
        && e.occur_time.timestamp_micros() == row.occur_time
        && e.agent_id() == row.agent_id
        && e.session_id == row.session_id
        && e.grant_id == row.grant_id
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
                let content = e.canonical(seq);
                let hash = link_hash(&prev, &content);
                let row = ChainRow {
                    sequence: seq,
                    tenant_id: e.tenant_id.clone(),
                    event_id: e.event_id.clone(),
                    kind: e.kind.as_str().into(),
                    occur_time: e.occur_time.timestamp_micros(),
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
