//! Helpdesk connectors: signed webhooks in from Zendesk, Jira or any
//! Standard Webhooks sender (a solved or closed ticket ends its access), and
//! Keyholder's events out to subscribers as Standard Webhooks
//! (docs/helpdesk.md).

pub(crate) mod http;
pub mod inbound;
pub mod outbound;
pub mod payload;
pub mod signature;
