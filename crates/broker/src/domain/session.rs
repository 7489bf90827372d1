//! A support session: opened at sign-in under a grant, ended once.

use super::DomainError;
use chrono::{DateTime, Utc};

/// End reason of a session its agent signed out of.
pub const SIGN_OUT: &str = "sign-out";

/// A support session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The agent.
    pub agent_id: String,
    /// The grant it runs under.
    pub grant_id: String,
    /// The reason given at sign-in.
    pub reason: String,
    /// Opened at.
    pub signed_in_at: DateTime<Utc>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended (`sign-out`, `revoked`, `agent-deactivated`, …).
    pub end_reason: String,
    /// Hash of the current refresh token.
    pub refresh_hash: String,
}

impl Session {
    /// A session opened at `now` (its grant is set when the grant is known).
    pub fn open(
        id: String,
        tenant_id: &str,
        agent_id: &str,
        reason: &str,
        refresh_hash: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            tenant_id: tenant_id.to_string(),
            agent_id: agent_id.to_string(),
            grant_id: String::new(),
            reason: reason.to_string(),
            signed_in_at: now,
            ended_at: None,
            end_reason: String::new(),
            refresh_hash,
        }
    }

    /// The same session under `grant_id`.
    pub fn under(self, grant_id: &str) -> Self {
        Self {
            grant_id: grant_id.to_string(),
            ..self
        }
    }

    /// Ends a live session for `reason`.
    pub fn end(&self, reason: &str, now: DateTime<Utc>) -> Result<Self, DomainError> {
        if self.ended_at.is_some() {
            return Err(DomainError::Conflict(
                "the support session has already ended".into(),
            ));
        }
        Ok(Self {
            ended_at: Some(now),
            end_reason: reason.to_string(),
            ..self.clone()
        })
    }
}
