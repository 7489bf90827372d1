//! Background work: the mailer loop and the checkpoint signer.

pub mod checkpoints;
pub mod mail;

/// Aborts a background task when dropped, so tasks end with the `serve` that
/// started them, even when that future is dropped rather than finished.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
