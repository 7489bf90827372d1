//! Verifying a tenant's chain and signing checkpoints of it with audit's own
//! Ed25519 key (kept in audit's database, sealed with the key-encryption key).

use crate::domain::chain::Broken;
use crate::store::Store;
use crate::witness::Witness;
use ring::signature::Ed25519KeyPair;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod checkpoints;
mod keys;
mod verify;

/// Result of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Rows checked.
    pub checked: i64,
    /// The first broken link, if any.
    pub broken: Option<Broken>,
    /// Sequence of the latest checkpoint, in the database or the witness
    /// (after any made now).
    pub checkpoint_sequence: i64,
    /// The highest sequence the witness holds a signed checkpoint of.
    pub witness_sequence: i64,
    /// Where the log first disagrees with a signed checkpoint: that
    /// checkpoint's sequence (`broken` then starts after the last one that
    /// agreed); 0 when none disagrees.
    pub mismatch_sequence: i64,
}

/// When checkpoints are signed: whichever of the two comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Every tenant whose chain grew, this often.
    pub every: Duration,
    /// One tenant, once this many events arrived since its last checkpoint.
    pub events: u64,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10),
            events: 1000,
        }
    }
}

impl CheckpointPolicy {
    /// The policy configured for audit.
    pub fn from_config(config: &keyholder_kit::config::Config) -> Self {
        Self {
            every: config.audit_checkpoint_every(),
            events: config.audit.checkpoint_events.max(1),
        }
    }
}

/// Verifies chains and signs checkpoints.
#[derive(Clone)]
pub struct Ledger {
    store: Store,
    key: Arc<Ed25519KeyPair>,
    key_id: String,
    public_keys: Arc<HashMap<String, Vec<u8>>>,
    policy: CheckpointPolicy,
    /// Events ingested per tenant since its last checkpoint (in this process;
    /// after a restart the timer covers what was counted before).
    pending: Arc<Mutex<HashMap<String, u64>>>,
    /// One signer at a time, so two triggers never sign the same span twice.
    signing: Arc<tokio::sync::Mutex<()>>,
    /// Where every checkpoint is published too; `None` only when switched
    /// off for benchmarking.
    witness: Option<Arc<dyn Witness>>,
    /// The latest witnessed (sequence, hash) per tenant, read from the
    /// witness once per process and kept up to date by `sign`.
    witnessed: Arc<Mutex<HashMap<String, (i64, String)>>>,
}

impl Ledger {
    fn witnessed(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, String)>> {
        self.witnessed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When checkpoints are signed.
    pub fn policy(&self) -> CheckpointPolicy {
        self.policy
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // A panic elsewhere while holding the lock leaves only a counter.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_default_to_every_ten_seconds_or_thousand_events() {
        let config = keyholder_kit::config::Config::default();
        assert_eq!(
            CheckpointPolicy::from_config(&config),
            CheckpointPolicy {
                every: Duration::from_secs(10),
                events: 1000
            }
        );
        assert_eq!(
            CheckpointPolicy::default(),
            CheckpointPolicy::from_config(&config)
        );
    }
}
