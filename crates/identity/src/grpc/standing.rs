//! Identity's side of standing: the `WatchStanding` feed broker and audit
//! follow, and identity's own standing check for its gate (read from its
//! database on every call, since identity is the source of truth).

use crate::error::Error;
use crate::store::Store;
use crate::store::standing::{Change, Reason};
use async_trait::async_trait;
use keyholder_kit::auth::{AuthError, Principal, PrincipalKind};
use keyholder_kit::standing::{HEARTBEAT, Standing, StandingCheck, WATCH_SCOPE, admits};
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::standing_service_server::StandingService;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Changes sent per message at most.
const BATCH: u64 = 500;

/// Identity's own check: the user row (active?) and the standing version.
#[derive(Debug, Clone)]
pub struct DatabaseStanding {
    store: Store,
}

impl DatabaseStanding {
    /// Checks against `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn live(&self, p: &Principal) -> std::result::Result<Standing, Error> {
        let exists_and_active = if p.kind == PrincipalKind::ServiceAccount {
            self.store.service_account(&p.id).await?.is_some()
                // Identity's own account signs its tokens in-process and
                // has no row.
                || p.id == crate::events::SERVICE_ACCOUNT_ID
        } else {
            self.store.user(&p.id).await?.is_some_and(|u| u.active)
        };
        if !exists_and_active {
            return Ok(Standing {
                version: 0,
                active: false,
            });
        }
        let (version, disabled) = self.store.standing_of(&p.id).await?;
        Ok(Standing {
            version,
            active: !disabled,
        })
    }
}

#[async_trait]
impl StandingCheck for DatabaseStanding {
    async fn check(&self, p: &Principal) -> std::result::Result<(), AuthError> {
        match self.live(p).await {
            Ok(live) => admits(Some(live), p.version),
            Err(e) => {
                tracing::error!(error = %e, "cannot read standing");
                Err(AuthError::Unavailable(
                    "identity cannot read its database right now; retry shortly".into(),
                ))
            }
        }
    }
}

/// The StandingService.
#[derive(Debug, Clone)]
pub struct StandingFeed {
    store: Store,
    stop: keyholder_kit::CancellationToken,
    /// How often a stream looks for changes committed by another identity
    /// replica (its own commits wake it at once).
    poll: Duration,
}

impl StandingFeed {
    /// Feeds from `store`, looking for other replicas' changes every `poll`
    /// (`identity.standing_poll_ms`).
    pub fn new(store: Store, poll: Duration) -> Self {
        Self {
            store,
            stop: keyholder_kit::CancellationToken::new(),
            poll,
        }
    }

    /// Ends every open feed when `stop` is cancelled: a stream left open
    /// would keep heartbeating from a server that is shutting down, and its
    /// followers would not move to another replica.
    pub fn stopping_on(mut self, stop: keyholder_kit::CancellationToken) -> Self {
        self.stop = stop;
        self
    }
}

fn reason_pb(r: Option<Reason>) -> i32 {
    use pb::StandingReason as R;
    (match r {
        Some(Reason::Deactivated) => R::Deactivated,
        Some(Reason::Demoted) => R::Demoted,
        Some(Reason::OwnershipTransferred) => R::OwnershipTransferred,
        Some(Reason::ServiceAccountDisabled) => R::ServiceAccountDisabled,
        Some(Reason::SignedOutEverywhere) => R::SignedOutEverywhere,
        Some(Reason::Reactivated) => R::Reactivated,
        None => R::Unspecified,
    }) as i32
}

fn change_pb(r: Change) -> pb::StandingChange {
    pb::StandingChange {
        // Log sequences and versions start at 1 and only grow.
        sequence: u64::try_from(r.seq).unwrap_or(0),
        principal_id: r.principal_id,
        version: u64::try_from(r.version).unwrap_or(0),
        active: r.active,
        reason: reason_pb(r.reason),
        tenant_id: r.tenant_id,
        kind: r.kind,
        change_time_ms: r.at.timestamp_millis(),
    }
}

/// Sends changes after `cursor` and heartbeats until the follower leaves.
async fn pump(
    store: Store,
    mut cursor: i64,
    tx: mpsc::Sender<std::result::Result<pb::WatchStandingResponse, Status>>,
    poll: Duration,
    stop: keyholder_kit::CancellationToken,
) {
    let mut commits = store.commits();
    let mut last_sent = tokio::time::Instant::now() - HEARTBEAT;
    loop {
        commits.mark_unchanged();
        let rows = match store.standing_changes(cursor, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the standing log");
                let _ = tx
                    .send(Err(Status::unavailable(
                        "identity cannot read its standing log right now; reconnect shortly",
                    )))
                    .await;
                return;
            }
        };
        let full = rows.len() as u64 == BATCH;
        if let Some(last) = rows.last() {
            cursor = last.seq;
        }
        if !rows.is_empty() || last_sent.elapsed() >= HEARTBEAT {
            let msg = pb::WatchStandingResponse {
                changes: rows.into_iter().map(change_pb).collect(),
                head_sequence: u64::try_from(cursor).unwrap_or(0),
            };
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
            last_sent = tokio::time::Instant::now();
        }
        if full {
            continue;
        }
        let until_heartbeat = HEARTBEAT.saturating_sub(last_sent.elapsed());
        tokio::select! {
            _ = stop.cancelled() => {
                let _ = tx.try_send(Err(Status::unavailable("identity is shutting down; reconnect")));
                return;
            }
            _ = tx.closed() => return,
            r = commits.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(until_heartbeat.min(poll)) => {}
        }
    }
}

#[async_trait]
impl StandingService for StandingFeed {
    type WatchStandingStream =
        ReceiverStream<std::result::Result<pb::WatchStandingResponse, Status>>;

    async fn watch_standing(
        &self,
        req: Request<pb::WatchStandingRequest>,
    ) -> std::result::Result<Response<Self::WatchStandingStream>, Status> {
        let p = keyholder_kit::gate::principal(&req).map_err(Error::from)?;
        p.require_scope(WATCH_SCOPE).map_err(Error::from)?;
        let after = i64::try_from(req.get_ref().after_sequence)
            .map_err(|_| Error::invalid("after_sequence is out of range"))?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(pump(
            self.store.clone(),
            after,
            tx,
            self.poll,
            self.stop.clone(),
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
