//! Verifying a tenant's chain and signing checkpoints of it with audit's own
//! Ed25519 key (kept in audit's database, sealed with the key-encryption key).

use crate::domain::chain::{Broken, Verifier, checkpoint_message};
use crate::error::{Error, StartError};
use crate::store::Store;
use crate::store::chain::{CHECKPOINT_KEY, reseal};
use crate::witness::{Witness, WitnessRecord};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyholder_kit::kek::KekRing;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A signed point an incremental verification starts from.
struct Anchor {
    sequence: i64,
    hash: String,
    checkpoint_sequence: i64,
    witness_sequence: i64,
}

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
    /// Loads audit's signing keys (sealing any a previous version left in
    /// plaintext), creating one on first start. Public keys are derived from
    /// the sealed private keys, not read from their column, so a database
    /// writer cannot slip in a key of their own to sign forged checkpoints.
    pub async fn load(
        store: Store,
        kek: &KekRing,
        policy: CheckpointPolicy,
        witness: Option<Arc<dyn Witness>>,
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
            witness,
            witnessed: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    fn witnessed(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, String)>> {
        self.witnessed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant's validly signed witness records.
    async fn witness_records(&self, tenant_id: &str) -> Result<Vec<WitnessRecord>, Error> {
        let Some(w) = &self.witness else {
            return Ok(Vec::new());
        };
        Ok(w.records(tenant_id).await?)
    }

    /// The latest point the witness vouches for (cached after the first read).
    async fn witnessed_head(&self, tenant_id: &str) -> Result<Option<(i64, String)>, Error> {
        if let Some(h) = self.witnessed().get(tenant_id) {
            return Ok(Some(h.clone()));
        }
        let latest = self
            .witness_records(tenant_id)
            .await?
            .into_iter()
            .filter(|r| self.signature_ok(tenant_id, r.sequence, &r.hash, &r.key_id, &r.signature))
            .max_by_key(|r| r.sequence)
            .map(|r| (r.sequence, r.hash));
        if let Some(h) = &latest {
            self.witnessed()
                .entry(tenant_id.to_string())
                .or_insert_with(|| h.clone());
        }
        Ok(latest)
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

    /// Signs a checkpoint and publishes it: to the witness first, so a
    /// checkpoint the database holds is always one the witness holds too.
    async fn sign(&self, tenant_id: &str, sequence: i64, hash: &str) -> Result<(), Error> {
        let sig = B64.encode(
            self.key
                .sign(&checkpoint_message(tenant_id, sequence, hash))
                .as_ref(),
        );
        if let Some(w) = &self.witness {
            w.publish(&WitnessRecord {
                tenant_id: tenant_id.to_string(),
                sequence,
                hash: hash.to_string(),
                key_id: self.key_id.clone(),
                signature: sig.clone(),
                sign_time: self.store.clock.now(),
            })
            .await?;
            self.witnessed()
                .insert(tenant_id.to_string(), (sequence, hash.to_string()));
        }
        self.store
            .insert_checkpoint(tenant_id, sequence, hash, &self.key_id, &sig)
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
        let (from_seq, from_hash) = start.unwrap_or((0, crate::domain::chain::GENESIS.to_string()));
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
