//! A grant and what can happen to it: made on approval or by standing mode,
//! extended, revoked, expired, its one-time credential used. Every change
//! goes through [`GrantState::on`], so revoking and extending follow the one
//! state machine.

use super::limits::{Settings, check_extension};
use super::scope::Scope;
use super::state::{GrantEvent, GrantState};
use super::{DomainError, Person};
use chrono::{DateTime, Utc};

/// A grant of support access.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The support agent.
    pub agent: Person,
    /// The approved request (empty for standing grants).
    pub access_request_id: String,
    /// The ticket (empty for standing grants).
    pub ticket_ref: String,
    /// Why.
    pub reason: String,
    /// What it allows.
    pub scope: Scope,
    /// Stored state (see [`Grant::state_at`] for the state as of now).
    pub state: GrantState,
    /// Made by standing mode.
    pub standing: bool,
    /// The admin who granted it.
    pub granted_by: Person,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// Ends at.
    pub expire_at: DateTime<Utc>,
    /// When it was revoked or expired.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who revoked it (admin id, `ticket-closed`; empty otherwise).
    pub revoked_by: String,
    /// Hash of the unused or used one-time credential.
    pub credential_hash: Option<String>,
    /// When the credential was used.
    pub credential_used_at: Option<DateTime<Utc>>,
    /// The end the ending-soon notice was sent for.
    pub ending_notice_for: Option<DateTime<Utc>>,
}

/// Why a grant ends, as the sessions' end reason and the mails name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// An admin revoked it.
    Revoked,
    /// Its time ran out.
    Expired,
    /// The helpdesk closed its ticket.
    TicketClosed,
    /// The tenant closed support access.
    SupportAccessClosed,
}

impl EndCause {
    /// The end reason given to its sessions and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::TicketClosed => "ticket-closed",
            Self::SupportAccessClosed => super::limits::SUPPORT_ACCESS_CLOSED,
        }
    }
}

/// A grant that ended: the grant as it is now, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedGrant {
    /// The grant, ended.
    pub grant: Grant,
    /// The cause.
    pub cause: EndCause,
    /// Why, in words, for the record (may be empty).
    pub why: String,
}

/// A grant whose end moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Extended {
    /// The grant with its new end.
    pub grant: Grant,
    /// The end before.
    pub previous_end: DateTime<Utc>,
}

impl Grant {
    /// The grant standing mode gives `agent` at `now`: the tenant's standing
    /// scope, for the tenant's longest grant, in the name of the admin who
    /// turned standing mode on.
    pub fn standing(
        id: String,
        tenant_id: &str,
        agent: Person,
        reason: &str,
        s: &Settings,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            tenant_id: tenant_id.to_string(),
            agent,
            access_request_id: String::new(),
            ticket_ref: String::new(),
            reason: reason.to_string(),
            scope: s.standing_scope.clone(),
            state: GrantState::Active,
            standing: true,
            granted_by: s.standing_by.clone(),
            created_at: now,
            expire_at: now + s.max_grant,
            ended_at: None,
            revoked_by: String::new(),
            credential_hash: None,
            credential_used_at: None,
            ending_notice_for: None,
        }
    }

    /// The state as of `now` (an active grant past its end is expired).
    pub fn state_at(&self, now: DateTime<Utc>) -> GrantState {
        self.state.at(self.expire_at, now)
    }

    /// Live at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state_at(now) == GrantState::Active
    }

    /// Checks that `event` may happen at `now`.
    pub fn check(&self, event: GrantEvent, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.state_at(now).on(event).map(|_| ())
    }

    /// Moves the end to `new_end` within the tenant's limits.
    pub fn extend(
        &self,
        new_end: DateTime<Utc>,
        s: &Settings,
        now: DateTime<Utc>,
    ) -> Result<Extended, DomainError> {
        self.check(GrantEvent::Extend, now)?;
        check_extension(self.expire_at, new_end, self.created_at, s)?;
        Ok(Extended {
            grant: Self {
                expire_at: new_end,
                ..self.clone()
            },
            previous_end: self.expire_at,
        })
    }

    /// Revokes a live grant: `by` is the admin's id (or `ticket-closed`).
    pub fn revoke(
        &self,
        by: &str,
        cause: EndCause,
        why: String,
        now: DateTime<Utc>,
    ) -> Result<EndedGrant, DomainError> {
        let state = self.state_at(now).on(GrantEvent::Revoke)?;
        Ok(self.ended(state, by, cause, why, now))
    }

    /// Expires a grant whose time has run out.
    pub fn expire(&self, now: DateTime<Utc>) -> Result<EndedGrant, DomainError> {
        if now < self.expire_at {
            return Err(DomainError::Conflict(
                "the grant has not run out yet".into(),
            ));
        }
        let state = self.state.on(GrantEvent::Expire)?;
        Ok(self.ended(
            state,
            "",
            EndCause::Expired,
            "the grant's time ran out".into(),
            now,
        ))
    }

    /// Ends a grant still active in the store for `cause`: revoked while
    /// live, expired when its time already ran out (closing support access
    /// or a ticket sweeps up grants the sweeper has not reached yet).
    pub fn end(
        &self,
        by: &str,
        cause: EndCause,
        why: String,
        now: DateTime<Utc>,
    ) -> Result<EndedGrant, DomainError> {
        if self.state == GrantState::Active && !self.is_live(now) {
            self.expire(now)
        } else {
            self.revoke(by, cause, why, now)
        }
    }

    fn ended(
        &self,
        state: GrantState,
        by: &str,
        cause: EndCause,
        why: String,
        now: DateTime<Utc>,
    ) -> EndedGrant {
        EndedGrant {
            grant: Self {
                state,
                ended_at: Some(now),
                revoked_by: by.to_string(),
                ..self.clone()
            },
            cause,
            why,
        }
    }

    /// Whether an unused one-time credential is out for this grant at `now`.
    pub fn credential_outstanding(&self, now: DateTime<Utc>) -> bool {
        self.is_live(now) && self.credential_hash.is_some() && self.credential_used_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn grant(now: DateTime<Utc>) -> Grant {
        let mut s = Settings::defaults("t");
        s.max_grant = Duration::days(30);
        Grant::standing("g".into(), "t", Person::default(), "why", &s, now)
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn revoking_goes_through_the_state_machine() {
        let g = grant(t0());
        let ended = g
            .revoke("admin", EndCause::Revoked, String::new(), t0())
            .map(|e| e.grant);
        assert_eq!(ended.as_ref().map(|g| g.state), Ok(GrantState::Revoked));
        let again = ended.and_then(|g| g.revoke("admin", EndCause::Revoked, String::new(), t0()));
        assert!(matches!(again, Err(DomainError::Conflict(_))));
        // Past its end a grant is expired, not revocable.
        let late = t0() + Duration::days(31);
        assert!(
            g.revoke("admin", EndCause::Revoked, String::new(), late)
                .is_err()
        );
        assert_eq!(
            g.end("admin", EndCause::Revoked, String::new(), late)
                .map(|e| (e.grant.state, e.cause)),
            Ok((GrantState::Expired, EndCause::Expired))
        );
    }

    #[test]
    fn extending_keeps_the_previous_end() {
        let g = grant(t0());
        let s = Settings::defaults("t");
        let new_end = g.expire_at - Duration::days(1);
        assert!(g.extend(new_end, &s, t0()).is_err());
        let shorter = Grant {
            expire_at: t0() + Duration::days(1),
            ..g
        };
        let x = shorter.extend(t0() + Duration::days(2), &s, t0());
        assert_eq!(
            x.map(|x| (x.previous_end, x.grant.expire_at)),
            Ok((t0() + Duration::days(1), t0() + Duration::days(2)))
        );
    }
}
