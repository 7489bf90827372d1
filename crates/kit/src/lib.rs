//! The service kit every Keyholder service is built on: one way to configure,
//! trace, serve, authenticate, fail and store.

#![forbid(unsafe_code)]

pub mod auth;
pub mod capability;
pub mod catch_panic;
pub mod client;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod db;
pub mod error;
pub mod files;
pub mod gate;
pub mod group_commit;
pub mod grpc_status;
pub mod idempotency;
pub mod instant;
pub mod jwt;
pub mod kek;
pub mod metrics;
pub mod outbox;
pub mod paging;
pub mod pg_nodelay;
pub mod sealed;
pub mod secret;
pub mod serve;
pub mod shutdown;
pub mod standing;
pub mod telemetry;
pub mod tls;
pub mod token_cache;
pub mod transport_status;

pub use tokio_util::sync::CancellationToken;
