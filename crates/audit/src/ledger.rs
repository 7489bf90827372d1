//! Verifying a tenant's chain and signing checkpoints of it with audit's own
//! Ed25519 key (kept in audit's database, sealed with the key-encryption key).

use crate::domain::chain::{Broken, Verifier, checkpoint_message};
use crate::error::{Error, StartError};
use crate::store::Store;
use crate::store::chain::{CHECKPOINT_KEY, reseal};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyholder_kit::kek::KekRing;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rows fetched per round trip while verifying.
const VERIFY_BATCH: u64 = 1000;

/// Result of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Rows checked.
    pub checked: i64,
    /// The first broken link, if any.
    pub broken: Option<Broken>,
    /// Sequence of the latest checkpoint (after any made now).
    pub checkpoint_sequence: i64,
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
            events: config.audit_checkpoint_events.max(1),
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
}

impl Ledger {
    /// Loads audit's signing keys (sealing any a previous version left in
    /// plaintext), creating one on first start. Public keys are derived from
    /// the sealed private keys, not read from their column, so a database
    /// writer cannot slip in a key of their own to sign forged checkpoints.
    pub async fn load(
        store: Store,
        kek: &KekRing,
        policy: CheckpointPolicy,
    ) -> Result<Self, StartError> {
        let bad = |e: String| StartError::SigningKey(e);
        reseal(&store.db, kek)
            .await
            .map_err(|e| bad(e.to_string()))?;
        let mut keys = store.signing_keys().await.map_err(|e| bad(e.to_string()))?;
        if keys.is_empty() {
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| bad("cannot generate a key".into()))?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
                .map_err(|_| bad("cannot read the generated key".into()))?;
            let key_id = uuid::Uuid::new_v4().to_string();
            let sealed = kek
                .seal_str(CHECKPOINT_KEY, &key_id, &B64.encode(doc.as_ref()))
                .map_err(|e| bad(e.to_string()))?;
            store
                .insert_signing_key(&key_id, &sealed, &B64.encode(pair.public_key().as_ref()))
                .await
                .map_err(|e| bad(e.to_string()))?;
            keys = store.signing_keys().await.map_err(|e| bad(e.to_string()))?;
        }
        let mut pairs = Vec::with_capacity(keys.len());
        for k in &keys {
            let pkcs8 = kek
                .open_str(CHECKPOINT_KEY, &k.key_id, &k.private_key)
                .map_err(|e| bad(e.to_string()))?;
            let pkcs8 = B64
                .decode(pkcs8)
                .map_err(|_| bad("stored key is not base64".into()))?;
            let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
                .map_err(|_| bad("stored key is not an Ed25519 PKCS#8 key".into()))?;
            pairs.push((k.key_id.clone(), pair));
        }
        let public_keys = pairs
            .iter()
            .map(|(id, pair)| (id.clone(), pair.public_key().as_ref().to_vec()))
            .collect();
        let (key_id, key) = pairs
            .pop()
            .ok_or_else(|| bad("no signing key stored".into()))?;
        Ok(Self {
            store,
            key: Arc::new(key),
            key_id,
            public_keys: Arc::new(public_keys),
            policy,
            pending: Arc::new(Mutex::new(HashMap::new())),
            signing: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// When checkpoints are signed.
    pub fn policy(&self) -> CheckpointPolicy {
        self.policy
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // A panic elsewhere while holding the lock leaves only a counter.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

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

    fn signature_ok(&self, tenant: &str, seq: i64, hash: &str, key_id: &str, sig: &str) -> bool {
        let (Some(public), Ok(sig)) = (self.public_keys.get(key_id), B64.decode(sig)) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&checkpoint_message(tenant, seq, hash), &sig)
            .is_ok()
    }

    /// Re-computes the whole chain of a tenant; when intact, signs a
    /// checkpoint of its head.
    pub async fn verify(&self, tenant_id: &str) -> Result<Verification, Error> {
        let checkpoints = self.store.checkpoints(tenant_id).await?;
        let mut latest = 0;
        for cp in &checkpoints {
            if !self.signature_ok(tenant_id, cp.sequence, &cp.hash, &cp.key_id, &cp.signature) {
                return Ok(Verification {
                    checked: 0,
                    broken: Some(Broken {
                        sequence: cp.sequence,
                        problem: format!(
                            "the checkpoint at event {} has an invalid signature (it was forged or altered)",
                            cp.sequence
                        ),
                    }),
                    checkpoint_sequence: latest,
                });
            }
            latest = cp.sequence;
        }
        let by_seq: HashMap<i64, &str> = checkpoints
            .iter()
            .map(|c| (c.sequence, c.hash.as_str()))
            .collect();
        let mut v = Verifier::new();
        let broken = 'scan: loop {
            let (after, _) = v.head();
            let rows = self
                .store
                .chain_rows(tenant_id, after, VERIFY_BATCH)
                .await?;
            if rows.is_empty() {
                break None;
            }
            for row in &rows {
                if let Err(b) = v.check(row) {
                    break 'scan Some(b);
                }
                if let Some(h) = by_seq.get(&row.sequence)
                    && *h != row.hash
                {
                    break 'scan Some(Broken {
                        sequence: row.sequence,
                        problem: format!(
                            "event {} differs from the signed checkpoint (the log was rewritten)",
                            row.sequence
                        ),
                    });
                }
            }
        };
        let (last, last_hash) = v.head();
        let broken = broken.or_else(|| {
            (latest > last).then(|| Broken {
                sequence: last + 1,
                problem: format!(
                    "the log ends at event {last} but a signed checkpoint covers event {latest}: events {}..{latest} were removed (truncated)",
                    last + 1
                ),
            })
        });
        let broken = match broken {
            Some(b) => Some(b),
            None => match self.store.head(tenant_id).await? {
                Some(h) if h.sequence > last => Some(Broken {
                    sequence: last + 1,
                    problem: format!(
                        "the log ends at event {last} but its head says {}: events were removed (truncated)",
                        h.sequence
                    ),
                }),
                _ => None,
            },
        };
        let mut checkpoint_sequence = latest;
        if broken.is_none() && last > latest {
            let hash = last_hash.to_string();
            self.sign(tenant_id, last, &hash).await?;
            checkpoint_sequence = last;
        }
        Ok(Verification {
            checked: v.checked(),
            broken,
            checkpoint_sequence,
        })
    }

    async fn sign(&self, tenant_id: &str, sequence: i64, hash: &str) -> Result<(), Error> {
        let sig = self
            .key
            .sign(&checkpoint_message(tenant_id, sequence, hash));
        self.store
            .insert_checkpoint(
                tenant_id,
                sequence,
                hash,
                &self.key_id,
                &B64.encode(sig.as_ref()),
            )
            .await
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
    async fn checkpoint_head(&self, tenant_id: &str, head_sequence: i64) -> Result<bool, Error> {
        let _one_signer = self.signing.lock().await;
        self.pending().remove(tenant_id);
        let (from_seq, from_hash) = self
            .store
            .latest_checkpoint(tenant_id)
            .await?
            .map(|c| (c.sequence, c.hash))
            .unwrap_or((0, crate::domain::chain::GENESIS.to_string()));
        if head_sequence <= from_seq {
            return Ok(false);
        }
        let mut v = Verifier::after(from_seq, from_hash);
        'scan: loop {
            let (after, _) = v.head();
            let rows = self
                .store
                .chain_rows(tenant_id, after, VERIFY_BATCH)
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                if let Err(b) = v.check(row) {
                    tracing::error!(tenant_id = %tenant_id, sequence = b.sequence, problem = %b.problem, "audit chain broken; not signing a checkpoint");
                    return Ok(false);
                }
                if row.sequence >= head_sequence {
                    break 'scan;
                }
            }
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
