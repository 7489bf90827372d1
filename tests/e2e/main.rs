//! End-to-end tests: identity, broker and audit running together on real
//! ports and a real database, with a real SMTP server receiving the mail.
//! One test binary keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_outage;
mod flows;
mod fuzz_rpcs;
mod inputs;
mod invitations;
mod lifecycle;
mod lowering;
mod mails;
mod secrets_at_rest;
mod standing;
mod tls;
