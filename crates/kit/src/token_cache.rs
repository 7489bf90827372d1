//! A bounded cache of verified tokens, shared by the gate (identity access
//! tokens) and the broker (support-session tokens).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Verified tokens by their text, so a hot caller's token is checked
/// cryptographically once, not on every call. Bounded; cleared when full.
#[derive(Debug)]
pub struct VerifiedTokens<T> {
    map: RwLock<HashMap<String, Arc<T>>>,
    capacity: usize,
}

impl<T> VerifiedTokens<T> {
    /// An empty cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// A verified token's value.
    pub fn get(&self, token: &str) -> Option<Arc<T>> {
        self.map.read().ok()?.get(token).cloned()
    }

    /// Remembers a verified token.
    pub fn put(&self, token: &str, value: Arc<T>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= self.capacity {
                m.clear();
            }
            m.insert(token.to_string(), value);
        }
    }
}
