//! The checkpoint loop: signs every tenant's chain head once per period.

use crate::ledger::Ledger;
use keyholder_kit::CancellationToken;

/// Checkpoints every tenant each `policy().every` until `shutdown`.
pub(crate) async fn checkpoint_loop(ledger: Ledger, shutdown: CancellationToken) {
    let every = ledger.policy().every;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        match ledger.checkpoint_all().await {
            Ok(n) if n > 0 => tracing::info!(checkpoints = n, "signed audit checkpoints"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpointing failed"),
        }
    }
}
