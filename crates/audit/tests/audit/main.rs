//! Audit service tests: the real service, identity for tokens, a fresh
//! database per test (SQLite, or PostgreSQL with KEYHOLDER_TEST_DATABASE_URL)
//! and a real SMTP server for mail. One binary to keep link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod crash;
mod export;
mod history_read_model;
mod incremental;
mod ingest;
mod invitations;
mod notify;
mod queries;
mod receipts;
mod retries;
mod scan;
mod tamper;
mod upgrade;
mod witness;
