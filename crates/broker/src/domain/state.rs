//! The request and grant state machines. Ended states are final: nothing
//! leads from denied, expired, cancelled or revoked back to pending or active.

use super::DomainError;
use chrono::{DateTime, Utc};

/// A request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for an admin.
    Pending,
    /// Approved; a grant exists.
    Approved,
    /// Denied.
    Denied,
    /// Nobody decided in time.
    Expired,
    /// The ticket closed first.
    Cancelled,
}

/// What can happen to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEvent {
    /// An admin approves.
    Approve,
    /// An admin denies.
    Deny,
    /// Its time runs out.
    Expire,
    /// The ticket closes.
    Cancel,
}

impl RequestState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// From the stored name; None for a name no version ever stored.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            "expired" => Some(Self::Expired),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// The state after `event`, or why it cannot happen.
    pub fn on(self, event: RequestEvent) -> Result<Self, DomainError> {
        match (self, event) {
            (Self::Pending, RequestEvent::Approve) => Ok(Self::Approved),
            (Self::Pending, RequestEvent::Deny) => Ok(Self::Denied),
            (Self::Pending, RequestEvent::Expire) => Ok(Self::Expired),
            (Self::Pending, RequestEvent::Cancel) => Ok(Self::Cancelled),
            (s, _) => Err(DomainError::Conflict(format!(
                "the request is {} and can no longer be decided",
                s.as_str()
            ))),
        }
    }

    /// The state as of `now`: a pending request past its time is expired
    /// even before the sweeper has written it so.
    pub fn at(self, expire_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if self == Self::Pending && now >= expire_at {
            Self::Expired
        } else {
            self
        }
    }
}

/// A grant's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// May be used.
    Active,
    /// Its time ran out.
    Expired,
    /// Revoked by an admin or by the ticket closing.
    Revoked,
}

/// What can happen to a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantEvent {
    /// Its end moves later.
    Extend,
    /// Its time runs out.
    Expire,
    /// An admin or the helpdesk ends it.
    Revoke,
    /// A sign-in uses it.
    Use,
}

impl GrantState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    /// From the stored name; None for a name no version ever stored.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }

    /// The state after `event`, or why it cannot happen.
    pub fn on(self, event: GrantEvent) -> Result<Self, DomainError> {
        match (self, event) {
            (Self::Active, GrantEvent::Extend | GrantEvent::Use) => Ok(Self::Active),
            (Self::Active, GrantEvent::Expire) => Ok(Self::Expired),
            (Self::Active, GrantEvent::Revoke) => Ok(Self::Revoked),
            (s, _) => Err(DomainError::Conflict(format!(
                "the grant is {} and can no longer be used or changed",
                s.as_str()
            ))),
        }
    }

    /// The state as of `now` (an active grant past its end is expired).
    pub fn at(self, expire_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if self == Self::Active && now >= expire_at {
            Self::Expired
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant_event() -> impl Strategy<Value = GrantEvent> {
        prop_oneof![
            Just(GrantEvent::Extend),
            Just(GrantEvent::Expire),
            Just(GrantEvent::Revoke),
            Just(GrantEvent::Use),
        ]
    }

    fn request_event() -> impl Strategy<Value = RequestEvent> {
        prop_oneof![
            Just(RequestEvent::Approve),
            Just(RequestEvent::Deny),
            Just(RequestEvent::Expire),
            Just(RequestEvent::Cancel),
        ]
    }

    proptest! {
        /// Once a grant has ended, no sequence of events makes it active again.
        #[test]
        fn ended_grants_never_become_active(events in proptest::collection::vec(grant_event(), 0..40)) {
            let mut state = GrantState::Active;
            let mut ended = false;
            for e in events {
                if let Ok(next) = state.on(e) {
                    state = next;
                }
                if state != GrantState::Active {
                    ended = true;
                }
                prop_assert!(!(ended && state == GrantState::Active));
            }
        }

        /// A decided request (denied, expired, cancelled, approved) never
        /// changes again, so a denied one can never yield a grant.
        #[test]
        fn decided_requests_are_final(events in proptest::collection::vec(request_event(), 1..20)) {
            let mut state = RequestState::Pending;
            let mut first_decision = None;
            for e in events {
                if let Ok(next) = state.on(e) {
                    prop_assert!(first_decision.is_none());
                    first_decision = Some(next);
                    state = next;
                }
            }
            if let Some(d) = first_decision {
                prop_assert_eq!(state, d);
            }
        }

        /// Time only moves an active grant towards expired, never back.
        #[test]
        fn time_never_revives(offset in -100_000i64..100_000, state_ix in 0usize..3) {
            let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
            let s = [GrantState::Active, GrantState::Expired, GrantState::Revoked][state_ix];
            let at = s.at(t, t + chrono::Duration::seconds(offset));
            if s != GrantState::Active {
                prop_assert_eq!(at, s);
            }
            if offset >= 0 {
                prop_assert_ne!(at, GrantState::Active);
            }
        }
    }
}
