//! The directory's plain records: tenants, their installed apps, partner
//! companies and service accounts. The store maps them to and from rows;
//! handlers build and read only these.

use crate::domain::invitations::Policy;
use crate::domain::random;
use chrono::{DateTime, Utc};

/// A customer company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Id.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// Language of its mails: `en` or `ru`.
    pub locale: String,
    /// Licensed seats (active employees).
    pub seat_limit: i64,
    /// The chief admin's user id.
    pub chief_admin_id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who may invite integrators.
    pub invitation_policy: Policy,
}

impl Tenant {
    /// A new tenant owned by `chief_admin_id`, inviting by the default policy.
    pub fn new(
        tenant_id: String,
        name: String,
        locale: &str,
        seat_limit: u32,
        chief_admin_id: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id,
            name,
            locale: locale.into(),
            seat_limit: i64::from(seat_limit),
            chief_admin_id,
            created_at: now,
            invitation_policy: Policy::default(),
        }
    }
}

/// An app installed in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The tenant.
    pub tenant_id: String,
    /// The app's code.
    pub code: String,
    /// Who installed it.
    pub installed_by: String,
    /// When.
    pub installed_at: DateTime<Utc>,
}

/// A partner company whose people may be invited as integrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// Id.
    pub partner_id: String,
    /// Name.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl Partner {
    /// A newly registered partner.
    pub fn new(name: String, now: DateTime<Utc>) -> Self {
        Self {
            partner_id: random::id(),
            name,
            created_at: now,
        }
    }
}

/// A machine client: signs in with a client id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Client id.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// SHA-256 (hex) of the secret.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}
