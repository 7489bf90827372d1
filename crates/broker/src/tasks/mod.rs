//! Background work: the expiry sweeper, the outbox deliverer and the
//! cross-broker invalidation listener.

pub mod deliverer;
pub mod dismissals;
pub mod invalidation;
pub mod sweeper;

use keyholder_kit::CancellationToken;
use std::time::Duration;

/// Sleeps, or returns false early when shutting down.
pub(crate) async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}
