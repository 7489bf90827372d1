//! Broker service tests: real identity and broker servers in process, a test
//! receiver standing in for audit. One binary to keep link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actions;
mod bad_input;
mod batch;
mod closing;
mod common;
mod credentials;
mod cross_broker;
mod deactivation;
mod dead_letters;
mod end_of_access;
mod feed_loss;
mod helpdesk_common;
mod helpdesk_connectors;
mod helpdesk_inbound;
mod helpdesk_outbound;
mod inputs;
mod integrators;
mod lifecycle;
mod metrics;
mod outbox;
mod refusals;
mod relay;
mod standing;
mod tickets;
mod upgrade;
mod visibility;
