//! Audit's checkpoint signing keys: loaded (created on first start) from
//! the database, sealed with the key-encryption key; signing and checking
//! checkpoints, published to the witness first.

use super::{CheckpointPolicy, Ledger};
use crate::domain::chain::checkpoint_message;
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
use std::sync::{Arc, Mutex};

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

    /// The tenant's validly signed witness records.
    pub(super) async fn witness_records(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<WitnessRecord>, Error> {
        let Some(w) = &self.witness else {
            return Ok(Vec::new());
        };
        Ok(w.records(tenant_id).await?)
    }

    /// The latest point the witness vouches for (cached after the first read).
    pub(super) async fn witnessed_head(
        &self,
        tenant_id: &str,
    ) -> Result<Option<(i64, String)>, Error> {
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

    pub(super) fn signature_ok(
        &self,
        tenant: &str,
        seq: i64,
        hash: &str,
        key_id: &str,
        sig: &str,
    ) -> bool {
        let (Some(public), Ok(sig)) = (self.public_keys.get(key_id), B64.decode(sig)) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&checkpoint_message(tenant, seq, hash), &sig)
            .is_ok()
    }

    /// Signs a checkpoint and publishes it: to the witness first, so a
    /// checkpoint the database holds is always one the witness holds too.
    pub(super) async fn sign(
        &self,
        tenant_id: &str,
        sequence: i64,
        hash: &str,
    ) -> Result<(), Error> {
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
}
