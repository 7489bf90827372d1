//! Signing checkpoints: after enough events, or for every tenant on the
//! periodic tick.

use super::Ledger;
use crate::domain::chain::{GENESIS, Verifier};
use crate::error::Error;
use std::ops::ControlFlow;

impl Ledger {
    /// Counts `events` newly ingested for `tenant_id`; once the tenant has
    /// the policy's number of events past its last checkpoint, signs one at
    /// once. Returns whether a checkpoint was signed.
    pub async fn note_ingested(&self, tenant_id: &str, events: u64) -> Result<bool, Error> {
        let due = {
            let mut pending = self.pending();
            let n = pending.entry(tenant_id.to_string()).or_insert(0);
            *n += events;
            *n >= self.policy.events
        };
        if !due {
            return Ok(false);
        }
        let Some(head) = self.store.head(tenant_id).await? else {
            return Ok(false);
        };
        self.checkpoint_head(tenant_id, head.sequence).await
    }

    /// Signs a checkpoint for every tenant whose chain grew since its last
    /// one, after checking the new rows link onto that checkpoint.
    pub async fn checkpoint_all(&self) -> Result<u32, Error> {
        let mut made = 0;
        for head in self.store.heads().await? {
            if self.checkpoint_head(&head.tenant_id, head.sequence).await? {
                made += 1;
            }
        }
        Ok(made)
    }

    /// Signs a checkpoint of `tenant_id`'s chain up to `head_sequence` (or
    /// as far as it links up) unless its latest checkpoint already covers it.
    pub(super) async fn checkpoint_head(
        &self,
        tenant_id: &str,
        head_sequence: i64,
    ) -> Result<bool, Error> {
        let _one_signer = self.signing.lock().await;
        self.pending().remove(tenant_id);
        // With a witness, signing resumes from what it vouches for: the
        // database's own checkpoints may have been deleted by the writer.
        let start = if self.witness.is_some() {
            self.witnessed_head(tenant_id).await?
        } else {
            self.store
                .latest_checkpoint(tenant_id)
                .await?
                .map(|c| (c.sequence, c.hash))
        };
        let (from_seq, from_hash) = start.unwrap_or((0, GENESIS.to_string()));
        if head_sequence < from_seq {
            tracing::error!(tenant_id = %tenant_id, head_sequence, checkpoint = from_seq, "audit log is shorter than its last signed checkpoint; not signing");
            return Ok(false);
        }
        if head_sequence == from_seq {
            return Ok(false);
        }
        if from_seq > 0 {
            let at = self.store.chain_rows(tenant_id, from_seq - 1, 1).await?;
            if !matches!(at.first(), Some(r) if r.sequence == from_seq && r.hash == from_hash) {
                tracing::error!(tenant_id = %tenant_id, sequence = from_seq, "audit log disagrees with its last signed checkpoint; not signing");
                return Ok(false);
            }
        }
        let mut v = Verifier::after(from_seq, from_hash);
        let mut broken = None;
        self.store
            .scan_chain(tenant_id, from_seq, head_sequence, |row| {
                match v.check_ref(&row) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(b) => {
                        broken = Some(b);
                        ControlFlow::Break(())
                    }
                }
            })
            .await?;
        if let Some(b) = broken {
            tracing::error!(tenant_id = %tenant_id, sequence = b.sequence, problem = %b.problem, "audit chain broken; not signing a checkpoint");
            return Ok(false);
        }
        let (last, hash) = v.head();
        if last <= from_seq {
            return Ok(false);
        }
        let hash = hash.to_string();
        self.sign(tenant_id, last, &hash).await?;
        Ok(true)
    }
}
