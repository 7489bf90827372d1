//! Verifying a tenant's chain, in full or from its latest signed point, and
//! checking receipts.

use super::{Ledger, Verification};
use crate::domain::chain::{Broken, Verifier};
use crate::error::Error;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// A signed point an incremental verification starts from.
struct Anchor {
    sequence: i64,
    hash: String,
    checkpoint_sequence: i64,
    witness_sequence: i64,
}

impl Ledger {
    /// Verifies a tenant's chain: incrementally from the latest signed
    /// checkpoint unless `full`, or when that checkpoint cannot be trusted
    /// as a starting point (then the whole chain, as `full` would).
    pub async fn verify(&self, tenant_id: &str, full: bool) -> Result<Verification, Error> {
        if !full && let Some(v) = self.verify_incremental(tenant_id).await? {
            return Ok(v);
        }
        self.verify_full(tenant_id).await
    }

    /// Where an incremental verification may start: the latest signed point
    /// (in the database or the witness), provided its signature holds and
    /// the log's event there still carries the signed hash. That hash covers
    /// every event before it, so a rewrite-and-rehash anywhere earlier shows
    /// here. `None` when there is no such point or it does not hold.
    async fn anchor(&self, tenant_id: &str) -> Result<Option<Anchor>, Error> {
        let db = self.store.latest_checkpoint(tenant_id).await?;
        if let Some(cp) = &db
            && !self.signature_ok(tenant_id, cp.sequence, &cp.hash, &cp.key_id, &cp.signature)
        {
            return Ok(None);
        }
        let witnessed = self.witnessed_head(tenant_id).await?;
        let mut points: Vec<(i64, String)> = Vec::with_capacity(2);
        points.extend(db.map(|cp| (cp.sequence, cp.hash)));
        points.extend(witnessed.clone());
        let Some((sequence, hash)) = points.iter().max_by_key(|(s, _)| *s).cloned() else {
            return Ok(None);
        };
        for (seq, signed) in &points {
            let at = self.store.chain_rows(tenant_id, seq - 1, 1).await?;
            if !matches!(at.first(), Some(r) if r.sequence == *seq && r.hash == *signed) {
                return Ok(None);
            }
        }
        Ok(Some(Anchor {
            sequence,
            hash,
            checkpoint_sequence: sequence,
            witness_sequence: witnessed.map(|(s, _)| s).unwrap_or(0),
        }))
    }

    /// Verifies the events after the anchor; `None` to fall back to a full
    /// verification.
    async fn verify_incremental(&self, tenant_id: &str) -> Result<Option<Verification>, Error> {
        let Some(anchor) = self.anchor(tenant_id).await? else {
            return Ok(None);
        };
        let mut v = Verifier::after(anchor.sequence, anchor.hash.clone());
        let mut broken = None;
        let head = self.head_before_scan(tenant_id).await?;
        self.store
            .scan_chain(
                tenant_id,
                anchor.sequence,
                head.unwrap_or(i64::MAX),
                |row| match v.check_ref(&row) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(b) => {
                        broken = Some(b);
                        ControlFlow::Break(())
                    }
                },
            )
            .await?;
        let (last, last_hash) = v.head();
        let last_hash = last_hash.to_string();
        let broken = broken.or_else(|| truncated_below(head, last));
        let mut out = Verification {
            checked: v.checked(),
            broken,
            checkpoint_sequence: anchor.checkpoint_sequence,
            witness_sequence: anchor.witness_sequence,
            mismatch_sequence: 0,
        };
        self.sign_if_intact(tenant_id, last, &last_hash, &mut out)
            .await?;
        Ok(Some(out))
    }

    /// The chain head's sequence, read *before* the rows are scanned: the
    /// head is written in the same transaction as the events up to it, so
    /// every row through it is there to read, while events appended during
    /// the scan lie beyond it and are left to the next verification instead
    /// of looking like a truncation.
    async fn head_before_scan(&self, tenant_id: &str) -> Result<Option<i64>, Error> {
        Ok(self.store.head(tenant_id).await?.map(|h| h.sequence))
    }

    /// Signs a checkpoint of an intact chain's head when it is past the
    /// latest one.
    async fn sign_if_intact(
        &self,
        tenant_id: &str,
        last: i64,
        last_hash: &str,
        out: &mut Verification,
    ) -> Result<(), Error> {
        if out.broken.is_none() && last > out.checkpoint_sequence {
            let _one_signer = self.signing.lock().await;
            self.sign(tenant_id, last, last_hash).await?;
            out.checkpoint_sequence = last;
            out.witness_sequence = if self.witness.is_some() { last } else { 0 };
        }
        Ok(())
    }

    /// Re-computes the whole chain of a tenant and compares it with every
    /// signed checkpoint, in the database and in the witness; when all
    /// agree, signs a checkpoint of its head.
    async fn verify_full(&self, tenant_id: &str) -> Result<Verification, Error> {
        let checkpoints = self.store.checkpoints(tenant_id).await?;
        let witnessed = self.witness_records(tenant_id).await?;
        let mut v = Verifier::new();
        let mut out = Verification {
            checked: 0,
            broken: None,
            checkpoint_sequence: 0,
            witness_sequence: 0,
            mismatch_sequence: 0,
        };
        for cp in &checkpoints {
            if !self.signature_ok(tenant_id, cp.sequence, &cp.hash, &cp.key_id, &cp.signature) {
                out.broken = Some(Broken {
                    sequence: cp.sequence,
                    problem: format!(
                        "the checkpoint at event {} has an invalid signature (it was forged or altered)",
                        cp.sequence
                    ),
                });
                return Ok(out);
            }
            out.checkpoint_sequence = cp.sequence;
        }
        for r in &witnessed {
            if !self.signature_ok(tenant_id, r.sequence, &r.hash, &r.key_id, &r.signature) {
                out.broken = Some(Broken {
                    sequence: r.sequence,
                    problem: format!(
                        "the witness's checkpoint at event {} has an invalid signature (the witness was altered)",
                        r.sequence
                    ),
                });
                return Ok(out);
            }
            out.witness_sequence = out.witness_sequence.max(r.sequence);
        }
        let latest = out.checkpoint_sequence;
        // Every signed (sequence, hash), from either place; the witness may
        // hold two for one sequence if a forged log was once signed.
        let mut signed: HashMap<i64, Vec<(&str, &str)>> = HashMap::new();
        for (seq, hash, place) in checkpoints
            .iter()
            .map(|c| (c.sequence, c.hash.as_str(), "checkpoint"))
            .chain(
                witnessed
                    .iter()
                    .map(|r| (r.sequence, r.hash.as_str(), "witness's checkpoint")),
            )
        {
            signed.entry(seq).or_default().push((hash, place));
        }
        // The last sequence a signed checkpoint agreed with: a rewrite found
        // at the next one lies after it.
        let mut vouched = 0;
        let mut broken = None;
        let mut mismatch = 0;
        let head = self.head_before_scan(tenant_id).await?;
        self.store
            .scan_chain(tenant_id, 0, head.unwrap_or(i64::MAX), |row| {
                if let Err(b) = v.check_ref(&row) {
                    broken = Some(b);
                    return ControlFlow::Break(());
                }
                let Some(points) = signed.get(&row.sequence) else {
                    return ControlFlow::Continue(());
                };
                if let Some((_, place)) = points.iter().find(|(h, _)| *h != row.hash) {
                    mismatch = row.sequence;
                    let first = vouched + 1;
                    broken = Some(Broken {
                        sequence: first,
                        problem: format!(
                            "event {} differs from the {place} signed there: the log was rewritten and rehashed at or after event {first}, which the last agreeing checkpoint ({}) covers no further",
                            row.sequence,
                            if vouched == 0 {
                                "none".to_string()
                            } else {
                                format!("event {vouched}")
                            }
                        ),
                    });
                    return ControlFlow::Break(());
                }
                vouched = row.sequence;
                ControlFlow::Continue(())
            })
            .await?;
        out.mismatch_sequence = mismatch;
        let (last, last_hash) = v.head();
        let last_hash = last_hash.to_string();
        let broken = broken.or_else(|| {
            (latest > last).then(|| Broken {
                sequence: last + 1,
                problem: format!(
                    "the log ends at event {last} but a signed checkpoint covers event {latest}: events {}..{latest} were removed (truncated)",
                    last + 1
                ),
            })
        });
        let witness_max = out.witness_sequence;
        let broken = broken.or_else(|| {
            (witness_max > last).then(|| Broken {
                sequence: last + 1,
                problem: format!(
                    "the log ends at event {last} but the witness holds a signed checkpoint of event {witness_max}: events {}..{witness_max} were removed, or the database was replaced with an older copy",
                    last + 1
                ),
            })
        });
        let broken = broken.or_else(|| truncated_below(head, last));
        out.checkpoint_sequence = latest.max(witness_max);
        out.checked = v.checked();
        out.broken = broken;
        self.sign_if_intact(tenant_id, last, &last_hash, &mut out)
            .await?;
        Ok(out)
    }

    /// Checks a receipt: the log's chain links from the start up to
    /// `sequence` and its hash there is `hash`. The hash covers every event
    /// before it, so a match proves that whole prefix unchanged; what came
    /// later does not matter to this receipt. `None` when it holds.
    pub async fn check_receipt(
        &self,
        tenant_id: &str,
        sequence: i64,
        hash: &str,
    ) -> Result<Option<Broken>, Error> {
        if sequence < 1 {
            return Err(Error::InvalidArgument("sequence must be at least 1".into()));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidArgument(
                "hash must be 64 hexadecimal characters".into(),
            ));
        }
        let mut v = Verifier::new();
        let mut broken = None;
        self.store
            .scan_chain(tenant_id, 0, sequence, |row| match v.check_ref(&row) {
                Ok(()) => ControlFlow::Continue(()),
                Err(b) => {
                    broken = Some(b);
                    ControlFlow::Break(())
                }
            })
            .await?;
        if broken.is_some() {
            return Ok(broken);
        }
        let (last, at) = v.head();
        if last < sequence {
            return Ok(Some(Broken {
                sequence: last + 1,
                problem: format!(
                    "the log ends at event {last}: the receipt's event {sequence} is no longer in it"
                ),
            }));
        }
        if !at.eq_ignore_ascii_case(hash) {
            return Ok(Some(Broken {
                sequence,
                problem: format!(
                    "the log's hash at event {sequence} is not the receipt's: that event or one before it was changed and the log rehashed"
                ),
            }));
        }
        Ok(None)
    }
}

/// A break when the head read before the scan says the log goes further
/// than `last`, the last event the scan found.
fn truncated_below(head: Option<i64>, last: i64) -> Option<Broken> {
    head.filter(|h| *h > last).map(|h| Broken {
        sequence: last + 1,
        problem: format!(
            "the log ends at event {last} but its head says {h}: events were removed (truncated)"
        ),
    })
}
