//! The live standing of principals (active? which standing version?) as
//! identity publishes it. Identity is the one source of truth; broker and
//! audit follow its `WatchStanding` feed into a [`StandingTable`] and refuse a
//! token whose version is older than the principal's live version. A follower
//! that has lost the feed for longer than its bound refuses every call
//! (fails closed) and reports itself not ready.

use crate::auth::{AuthError, Principal};
use async_trait::async_trait;
use keyholder_proto::identity::v1 as pb;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};

/// Scope a service account needs to follow the feed.
pub const WATCH_SCOPE: &str = "identity.standing.watch";
/// How often identity sends a heartbeat on an idle feed.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Default bound on how old a follower's last confirmed state may be.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(30);
/// How long a call waits for a follower's very first sync before it is
/// refused (a service that just started has confirmed nothing yet).
pub const FIRST_SYNC_WAIT: Duration = Duration::from_secs(5);

/// A principal's live standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Tokens below this version are refused.
    pub version: u64,
    /// May act at all.
    pub active: bool,
}

/// Answers whether a verified principal still stands where its token says.
#[async_trait]
pub trait StandingCheck: Send + Sync {
    /// Ok when the principal's token is still good; the refusal otherwise.
    async fn check(&self, principal: &Principal) -> Result<(), AuthError>;
}

/// Whether a principal with `live` standing may use a token of `token_version`.
pub fn admits(live: Option<Standing>, token_version: u64) -> Result<(), AuthError> {
    match live {
        None => Ok(()),
        Some(s) if !s.active => Err(AuthError::Revoked(
            "the account is deactivated or disabled".into(),
        )),
        Some(s) if token_version < s.version => Err(AuthError::Revoked(
            "the account's standing changed after this token was issued (for example a demotion or a sign-out everywhere): sign in again".into(),
        )),
        Some(_) => Ok(()),
    }
}

/// The follower's picture of every principal whose standing ever changed.
pub struct StandingTable {
    map: RwLock<HashMap<String, Standing>>,
    sequence: AtomicU64,
    confirmed: Mutex<Option<Instant>>,
    max_staleness: Duration,
    first_sync_wait: Duration,
    first_sync: Notify,
    changes: broadcast::Sender<pb::StandingChange>,
}

impl std::fmt::Debug for StandingTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandingTable")
            .field("sequence", &self.sequence())
            .field("max_staleness", &self.max_staleness)
            .finish_non_exhaustive()
    }
}

impl StandingTable {
    /// An empty, never-synced table that fails closed once its last
    /// confirmation is older than `max_staleness`.
    pub fn new(max_staleness: Duration) -> Self {
        let (changes, _) = broadcast::channel(1024);
        Self {
            map: RwLock::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            confirmed: Mutex::new(None),
            max_staleness,
            first_sync_wait: FIRST_SYNC_WAIT,
            first_sync: Notify::new(),
            changes,
        }
    }

    /// The same, waiting at most `wait` for the first sync.
    pub fn with_first_sync_wait(mut self, wait: Duration) -> Self {
        self.first_sync_wait = wait;
        self
    }

    /// The highest sequence applied.
    pub fn sequence(&self) -> u64 {
        self.sequence.load(Ordering::Acquire)
    }

    /// Every change as it is applied (the broker ends agents' sessions).
    pub fn subscribe(&self) -> broadcast::Receiver<pb::StandingChange> {
        self.changes.subscribe()
    }

    /// Applies one feed message: its changes, then the confirmation that
    /// the picture is current up to its head.
    pub fn apply(&self, msg: &pb::WatchStandingResponse) {
        if !msg.changes.is_empty() {
            if let Ok(mut map) = self.map.write() {
                for c in &msg.changes {
                    if c.sequence <= self.sequence() {
                        continue;
                    }
                    map.insert(
                        c.principal_id.clone(),
                        Standing {
                            version: c.version,
                            active: c.active,
                        },
                    );
                    self.sequence.store(c.sequence, Ordering::Release);
                }
            }
            for c in &msg.changes {
                // Nobody listening is fine: the table above is what counts.
                let _ = self.changes.send(c.clone());
            }
        }
        self.confirm();
    }

    /// Marks the picture current now.
    pub fn confirm(&self) {
        if let Ok(mut at) = self.confirmed.lock() {
            let first = at.is_none();
            *at = Some(Instant::now());
            if first {
                self.first_sync.notify_waiters();
            }
        }
    }

    /// A principal's live standing, if it ever changed.
    pub fn get(&self, principal_id: &str) -> Option<Standing> {
        self.map.read().ok()?.get(principal_id).copied()
    }

    /// Confirmed recently enough to be trusted.
    pub fn is_fresh(&self) -> bool {
        self.confirmed
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() <= self.max_staleness)
    }

    /// How long ago identity's feed last confirmed the picture (None before
    /// the first sync): what an operator watches to see revocations arrive.
    pub fn confirmed_age(&self) -> Option<Duration> {
        self.confirmed
            .lock()
            .ok()
            .and_then(|at| *at)
            .map(|at| at.elapsed())
    }

    fn ever_synced(&self) -> bool {
        self.confirmed.lock().ok().is_some_and(|at| at.is_some())
    }

    /// Ok when the picture can be trusted; waits a little for the first
    /// sync of a service that has just started.
    pub async fn require_fresh(&self) -> Result<(), AuthError> {
        if self.is_fresh() {
            return Ok(());
        }
        if !self.ever_synced() {
            let waiting = self.first_sync.notified();
            if !self.ever_synced() {
                let _ = tokio::time::timeout(self.first_sync_wait, waiting).await;
            }
            if self.is_fresh() {
                return Ok(());
            }
        }
        Err(AuthError::Unavailable(
            "this service has lost identity's standing feed and refuses calls until it is back; retry shortly".into(),
        ))
    }
}

#[async_trait]
impl StandingCheck for StandingTable {
    async fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        self.require_fresh().await?;
        admits(self.get(&principal.id), principal.version)
    }
}

/// A source of the follower's own bearer token (its service account).
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A current access token.
    async fn token(&self) -> Result<String, String>;
}

/// The service's own account, signed in with the credentials file identity
/// wrote (read at first use, so a service may start before identity).
pub struct CredentialsFileToken {
    channel: crate::client::Channel,
    file: std::path::PathBuf,
    token: tokio::sync::OnceCell<crate::client::ServiceToken>,
    clock: crate::clock::SharedClock,
}

impl CredentialsFileToken {
    /// Signs in at identity on `channel` with the credentials in `file`.
    pub fn new(
        channel: crate::client::Channel,
        file: std::path::PathBuf,
        clock: crate::clock::SharedClock,
    ) -> Self {
        Self {
            channel,
            file,
            token: tokio::sync::OnceCell::new(),
            clock,
        }
    }
}

#[async_trait]
impl TokenSource for CredentialsFileToken {
    async fn token(&self) -> Result<String, String> {
        let t = self
            .token
            .get_or_try_init(|| async {
                let creds: crate::credentials::ServiceCredentials =
                    crate::credentials::read(&self.file)
                        .map_err(|e| format!("service credentials unreadable: {e}"))?;
                Ok::<_, String>(crate::client::ServiceToken::new(
                    self.channel.clone(),
                    creds,
                    self.clock.clone(),
                ))
            })
            .await?;
        t.token().await.map_err(|e| e.to_string())
    }
}

/// Follows identity's feed into `table` until `shutdown`, reconnecting with
/// a short backoff and resuming from the last applied sequence.
pub async fn follow(
    table: Arc<StandingTable>,
    channel: crate::client::Channel,
    tokens: Arc<dyn TokenSource>,
    shutdown: crate::CancellationToken,
) {
    use keyholder_proto::identity::v1::standing_service_client::StandingServiceClient;
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let token = tokens.token().await?;
            let req = crate::client::authorized(
                pb::WatchStandingRequest {
                    after_sequence: table.sequence(),
                },
                &token,
            );
            let mut stream = StandingServiceClient::new(channel.clone())
                .watch_standing(req)
                .await
                .map_err(|s| s.message().to_string())?
                .into_inner();
            loop {
                // Two missed heartbeats mean the stream is dead even if the
                // connection has not noticed yet.
                match tokio::time::timeout(HEARTBEAT * 3, stream.message()).await {
                    Ok(Ok(Some(msg))) => table.apply(&msg),
                    Ok(Ok(None)) => return Err("identity closed the standing feed".to_string()),
                    Ok(Err(s)) => return Err(s.message().to_string()),
                    Err(_) => return Err("no heartbeat from identity".to_string()),
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = attempt => {
                let e: Result<(), String> = r;
                if let Err(e) = e {
                    tracing::warn!(error = %e, sequence = table.sequence(), "standing feed lost; reconnecting");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
        if table.is_fresh() {
            backoff = Duration::from_millis(100);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: u64, id: &str, version: u64, active: bool) -> pb::StandingChange {
        pb::StandingChange {
            sequence: seq,
            principal_id: id.into(),
            version,
            active,
            ..Default::default()
        }
    }

    #[test]
    fn older_tokens_and_inactive_principals_are_refused() {
        assert_eq!(admits(None, 0), Ok(()));
        let live = Standing {
            version: 2,
            active: true,
        };
        assert!(matches!(admits(Some(live), 1), Err(AuthError::Revoked(_))));
        assert_eq!(admits(Some(live), 2), Ok(()));
        let gone = Standing {
            version: 2,
            active: false,
        };
        assert!(matches!(admits(Some(gone), 2), Err(AuthError::Revoked(_))));
    }

    #[test]
    fn changes_apply_in_order_and_replays_are_ignored() {
        let t = StandingTable::new(DEFAULT_MAX_STALENESS);
        assert!(!t.is_fresh());
        t.apply(&pb::WatchStandingResponse {
            changes: vec![change(1, "u", 1, false), change(2, "u", 1, true)],
            head_sequence: 2,
        });
        assert!(t.is_fresh());
        assert_eq!(t.sequence(), 2);
        assert_eq!(
            t.get("u"),
            Some(Standing {
                version: 1,
                active: true
            })
        );
        // A replayed older change does not undo the newer one.
        t.apply(&pb::WatchStandingResponse {
            changes: vec![change(1, "u", 1, false)],
            head_sequence: 2,
        });
        assert_eq!(t.get("u").map(|s| s.active), Some(true));
    }

    #[tokio::test]
    async fn a_table_never_synced_or_stale_fails_closed() {
        let t = StandingTable::new(Duration::ZERO).with_first_sync_wait(Duration::from_millis(10));
        assert!(matches!(
            tokio::time::timeout(Duration::from_secs(10), t.require_fresh()).await,
            Ok(Err(AuthError::Unavailable(_)))
        ));
        t.confirm();
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(
            t.require_fresh().await,
            Err(AuthError::Unavailable(_))
        ));
    }
}
