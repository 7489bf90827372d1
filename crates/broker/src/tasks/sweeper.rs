//! Expiry: pending requests past their time, reminders before that, grants
//! past their end, and the notice before a grant ends. Every change is a conditional update, so brokers sweeping
//! at once neither double-expire nor double-emit.

use crate::error::Error;
use crate::store::Store;
use keyholder_kit::CancellationToken;
use keyholder_kit::clock::SharedClock;
use std::time::Duration;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Reminders sent.
    pub reminded: usize,
    /// Requests expired.
    pub requests_expired: usize,
    /// Grants expired.
    pub grants_expired: usize,
    /// "Ending soon" notices emitted.
    pub ending_noticed: usize,
}

/// One sweep at the clock's current time; `notice` is how long before a
/// grant's end its "ending soon" notice goes out.
pub async fn sweep_once(
    store: &Store,
    clock: &SharedClock,
    notice: chrono::Duration,
) -> Result<SweepReport, Error> {
    let now = crate::store::at_stored_precision(clock.now());
    Ok(SweepReport {
        reminded: store.remind_requests(now).await?,
        requests_expired: store.expire_requests(now).await?,
        grants_expired: store.expire_grants(now).await?,
        ending_noticed: store.notice_ending_grants(now, notice).await?,
    })
}

/// Sweeps every `every` (`broker.sweep_interval_ms`) until shutdown.
pub async fn run(
    store: Store,
    clock: SharedClock,
    notice: chrono::Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    while super::pause(every, &shutdown).await {
        match sweep_once(&store, &clock, notice).await {
            Ok(r) if r != SweepReport::default() => {
                tracing::info!(
                    reminded = r.reminded,
                    requests_expired = r.requests_expired,
                    grants_expired = r.grants_expired,
                    ending_noticed = r.ending_noticed,
                    "sweep"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}
