//! An access request and its decisions. Approving yields the grant; every
//! decision goes through [`RequestState::on`] as of `now`.

use super::grant::Grant;
use super::limits::{
    Settings, approved_duration, check_open_for_approval, reminder_time, request_duration,
};
use super::scope::Scope;
use super::state::{GrantState, RequestEvent, RequestState};
use super::{DomainError, Person};
use chrono::{DateTime, Duration, Utc};

/// An access request.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRequest {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The agent it is for.
    pub agent: Person,
    /// Who filed it (the agent, or the helpdesk's account).
    pub requested_by: String,
    /// The ticket.
    pub ticket_ref: String,
    /// Why.
    pub reason: String,
    /// What is asked for.
    pub scope: Scope,
    /// How long, from approval.
    pub duration: Duration,
    /// Stored state (see [`AccessRequest::state_at`]).
    pub state: RequestState,
    /// Filed at.
    pub created_at: DateTime<Utc>,
    /// Undecided, it expires then.
    pub expire_at: DateTime<Utc>,
    /// The reminder is due then.
    pub remind_at: DateTime<Utc>,
    /// The reminder went out.
    pub reminded: bool,
    /// Who decided (admin id; the actor for cancellations).
    pub decided_by: String,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's note.
    pub decision_note: String,
    /// The grant approval made.
    pub grant_id: String,
}

/// An access request as asked, its fields already checked.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The tenant (known to exist).
    pub tenant_id: String,
    /// The ticket.
    pub ticket_ref: String,
    /// Why.
    pub reason: String,
    /// What.
    pub scope: Scope,
    /// How long; the tenant's default when unset.
    pub duration: Option<Duration>,
}

/// A request just decided (approved, denied, expired or cancelled).
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The request as decided.
    pub request: AccessRequest,
    /// What happened.
    pub event: RequestEvent,
}

impl AccessRequest {
    /// Files `asked` for `agent` under the tenant's settings `s`.
    pub fn open(
        id: String,
        asked: NewRequest,
        agent: Person,
        requested_by: &str,
        s: &Settings,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let duration = request_duration(asked.duration, s)?;
        Ok(Self {
            id,
            tenant_id: asked.tenant_id,
            agent,
            requested_by: requested_by.to_string(),
            ticket_ref: asked.ticket_ref,
            reason: asked.reason,
            scope: asked.scope,
            duration,
            state: RequestState::Pending,
            created_at: now,
            expire_at: now + s.request_ttl,
            remind_at: reminder_time(now, s.request_ttl),
            reminded: false,
            decided_by: String::new(),
            decided_at: None,
            decision_note: String::new(),
            grant_id: String::new(),
        })
    }

    /// The state as of `now` (an overdue pending request is expired).
    pub fn state_at(&self, now: DateTime<Utc>) -> RequestState {
        self.state.at(self.expire_at, now)
    }

    /// Checks that `event` may happen at `now`.
    pub fn check(&self, event: RequestEvent, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.state_at(now).on(event).map(|_| ())
    }

    /// The scope a grant for this request would have: the asked one, or a
    /// narrower one the approver gives.
    pub fn scope_to_grant(&self, narrowed: Option<Scope>) -> Result<Scope, DomainError> {
        match narrowed {
            Some(n) => {
                n.check_narrower_than(&self.scope)?;
                Ok(n)
            }
            None => Ok(self.scope.clone()),
        }
    }

    fn decided(
        &self,
        event: RequestEvent,
        by: &str,
        note: &str,
        grant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Decided, DomainError> {
        let state = self.state_at(now).on(event)?;
        Ok(Decided {
            request: Self {
                state,
                decided_by: by.to_string(),
                decided_at: Some(now),
                decision_note: note.to_string(),
                grant_id: grant_id.to_string(),
                ..self.clone()
            },
            event,
        })
    }

    /// Approves: the grant (`scope` already resolved, `duration` the
    /// approver's, if any) and the decided request. Refused while the
    /// tenant's support access is closed.
    #[allow(clippy::too_many_arguments)]
    pub fn approve(
        &self,
        grant_id: String,
        admin: &Person,
        scope: Scope,
        duration: Option<Duration>,
        note: &str,
        s: &Settings,
        now: DateTime<Utc>,
    ) -> Result<(Grant, Decided), DomainError> {
        check_open_for_approval(s.mode)?;
        let decided = self.decided(RequestEvent::Approve, &admin.id, note, &grant_id, now)?;
        let d = approved_duration(self.duration, duration, s)?;
        let grant = Grant {
            id: grant_id,
            tenant_id: self.tenant_id.clone(),
            agent: self.agent.clone(),
            access_request_id: self.id.clone(),
            ticket_ref: self.ticket_ref.clone(),
            reason: self.reason.clone(),
            scope,
            state: GrantState::Active,
            standing: false,
            granted_by: admin.clone(),
            created_at: now,
            expire_at: now + d,
            ended_at: None,
            revoked_by: String::new(),
            credential_hash: None,
            credential_used_at: None,
            ending_notice_for: None,
        };
        Ok((grant, decided))
    }

    /// Denies.
    pub fn deny(
        &self,
        admin_id: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Decided, DomainError> {
        self.decided(RequestEvent::Deny, admin_id, note, "", now)
    }

    /// Cancels (its ticket closed, or support access closed): `by` is the
    /// actor's id. An overdue request is left to expire.
    pub fn cancel(&self, by: &str, note: &str, now: DateTime<Utc>) -> Result<Decided, DomainError> {
        self.decided(RequestEvent::Cancel, by, note, "", now)
    }

    /// Expires a pending request whose time has run out.
    pub fn expire(&self, now: DateTime<Utc>) -> Result<Decided, DomainError> {
        if now < self.expire_at {
            return Err(DomainError::Conflict(
                "the request has not run out yet".into(),
            ));
        }
        let state = self.state.on(RequestEvent::Expire)?;
        Ok(Decided {
            request: Self {
                state,
                decided_at: Some(now),
                ..self.clone()
            },
            event: RequestEvent::Expire,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn open(s: &Settings) -> Result<AccessRequest, DomainError> {
        let asked = NewRequest {
            tenant_id: "t".into(),
            ticket_ref: "T-1".into(),
            reason: "a reason long enough".into(),
            scope: Scope::read_only(),
            duration: None,
        };
        AccessRequest::open("r".into(), asked, Person::default(), "a", s, t0())
    }

    #[test]
    fn approval_yields_the_grant_and_is_final() -> Result<(), DomainError> {
        let mut s = Settings::defaults("t");
        s.mode = Mode::OnRequest;
        let r = open(&s)?;
        let admin = Person {
            id: "adm".into(),
            ..Person::default()
        };
        let (g, d) = r.approve("g".into(), &admin, Scope::read_only(), None, "ok", &s, t0())?;
        assert_eq!(d.request.state, RequestState::Approved);
        assert_eq!(d.request.grant_id, "g");
        assert_eq!(g.expire_at, t0() + s.default_grant);
        assert_eq!(g.granted_by.id, "adm");
        assert!(d.request.deny("adm", "", t0()).is_err());
        // Closed support access approves nothing; time runs pending requests out.
        s.mode = Mode::Closed;
        assert!(
            r.approve("g".into(), &admin, Scope::read_only(), None, "", &s, t0())
                .is_err()
        );
        let late = r.expire_at;
        assert!(r.deny("adm", "", late).is_err());
        assert!(r.cancel("adm", "", late).is_err());
        assert_eq!(
            r.expire(late).map(|d| d.request.state),
            Ok(RequestState::Expired)
        );
        assert!(r.expire(t0()).is_err());
        Ok(())
    }
}
