//! Identity's background work: relaying its outbox to audit.

pub mod deliverer;
