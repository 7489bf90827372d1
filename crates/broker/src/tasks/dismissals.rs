//! Ends a support agent's sessions the moment identity says the agent was
//! dismissed (end reason `agent-deactivated`). CheckAccess already refuses
//! such an agent from the standing table; this makes the record and the
//! login history say so too.

use crate::grpc::AGENT_DEACTIVATED;
use crate::store::Store;
use keyholder_kit::CancellationToken;
use keyholder_kit::clock::SharedClock;
use keyholder_proto::identity::v1::StandingChange;
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// Runs until `shutdown`.
pub async fn run(
    store: Store,
    mut changes: Receiver<StandingChange>,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = changes.recv() => c,
        };
        match change {
            Ok(c) if !c.active && c.kind == "support_agent" => {
                end_sessions(&store, &c, &clock).await
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "standing changes missed; dismissed agents' sessions end at their next check"
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn end_sessions(store: &Store, c: &StandingChange, clock: &SharedClock) {
    // Only sessions begun before the dismissal: replaying the log after a
    // re-hire must not end the re-hired agent's new sessions. The feed
    // gives milliseconds while sessions start to the microsecond: the whole
    // millisecond of the dismissal counts as before it (no session can start
    // after a dismissal within it, and re-hiring takes longer).
    let before = chrono::DateTime::from_timestamp_millis(c.change_time_ms.saturating_add(1));
    match store
        .end_sessions_of_agent_before(
            &c.principal_id,
            AGENT_DEACTIVATED,
            before,
            crate::store::at_stored_precision(clock.now()),
        )
        .await
    {
        Ok(n) if n > 0 => {
            tracing::info!(agent_id = %c.principal_id, sessions_ended = n, "dismissed agent's sessions ended");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(agent_id = %c.principal_id, error = %e, "could not end a dismissed agent's sessions");
        }
    }
}
