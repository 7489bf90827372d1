//! The mailer loop: a pass at once, then one per wake-up or poll tick.

use crate::mail::worker::MailWorker;
use keyholder_kit::CancellationToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Runs mail passes until `shutdown`: woken by `wakeup` (an append queued
/// mail) or every `poll`.
pub(crate) async fn mail_loop(
    worker: MailWorker,
    wakeup: Arc<Notify>,
    poll: Duration,
    shutdown: CancellationToken,
) {
    // A pass at once: mail reclaimed at start should not wait for a tick.
    loop {
        if let Err(e) = worker.deliver_once().await {
            tracing::warn!(error = %e, "mailer pass failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
