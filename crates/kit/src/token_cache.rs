//! A bounded cache of verified tokens, shared by the gate (identity access
//! tokens) and the broker (support-session tokens): a `moka` cache, so the
//! bound evicts the least used instead of starting over, and an entry lives
//! at most a time-to-live. Callers still judge each hit's time claims
//! against their own clock; the time-to-live only bounds memory.

use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

/// How long a verified token is remembered at most (tokens live shorter).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);

/// Verified tokens by their text, so a hot caller's token is checked
/// cryptographically once, not on every call.
pub struct VerifiedTokens<T> {
    cache: Cache<String, Arc<T>>,
}

impl<T> std::fmt::Debug for VerifiedTokens<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl<T: Send + Sync + 'static> VerifiedTokens<T> {
    /// An empty cache holding at most `capacity` tokens for [`DEFAULT_TTL`].
    pub fn new(capacity: u64) -> Self {
        Self::with_ttl(capacity, DEFAULT_TTL)
    }

    /// An empty cache holding at most `capacity` tokens, each for `ttl`.
    pub fn with_ttl(capacity: u64, ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// A verified token's value.
    pub async fn get(&self, token: &str) -> Option<Arc<T>> {
        self.cache.get(token).await
    }

    /// Remembers a verified token.
    pub async fn insert(&self, token: &str, value: Arc<T>) {
        self.cache.insert(token.to_string(), value).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn remembers_within_bound_and_time() {
        let c = VerifiedTokens::new(10);
        c.insert("a", Arc::new(1)).await;
        assert_eq!(c.get("a").await.as_deref(), Some(&1));
        assert!(c.get("b").await.is_none());
        let gone = VerifiedTokens::with_ttl(10, Duration::ZERO);
        gone.insert("a", Arc::new(1)).await;
        assert!(gone.get("a").await.is_none());
    }
}
