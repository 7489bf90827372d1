//! Outbound webhooks as an operator sees them: a subscription and where each
//! of its deliveries stands.

use chrono::{DateTime, Utc};

/// A subscriber's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it asked for; empty means all.
    pub event_types: Vec<String>,
    /// Registered at.
    pub created_at: DateTime<Utc>,
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered, still being tried.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up.
    Failed,
}

/// One event queued for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event's id (the subscriber's idempotency key).
    pub event_id: String,
    /// Its webhook type.
    pub event_type: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure, if any.
    pub last_error: String,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Delivered at.
    pub delivered_at: Option<DateTime<Utc>>,
}
