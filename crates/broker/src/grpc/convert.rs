//! Between protobuf messages and domain values.

use crate::domain::grant::Grant;
use crate::domain::limits::{HARD_MAX_GRANT, Settings};
use crate::domain::request::AccessRequest;
use crate::domain::scope::Scope;
use crate::domain::session::Session;
use crate::domain::state::{GrantState, RequestState};
use crate::domain::{DomainError, input};
use crate::error::Error;
use crate::events::timestamp;
use chrono::{DateTime, Duration, Utc};
use keyholder_proto::broker::v1 as pb;

/// A protobuf duration as chrono's. Negative ones, nanos outside
/// 0..=999 999 999 and anything beyond the longest duration the broker
/// allows anywhere ([`HARD_MAX_GRANT`]) are refused; the tenant's own limits
/// are checked later with their own messages.
pub fn duration(field: &str, d: Option<prost_types::Duration>) -> Result<Option<Duration>, Error> {
    let Some(d) = d else {
        return Ok(None);
    };
    let max = HARD_MAX_GRANT
        .to_std()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let d = keyholder_rights::input::duration(field, d.seconds, d.nanos, max)
        .map_err(DomainError::from)?;
    // Within 90 days, so always representable.
    Duration::from_std(d)
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// chrono → protobuf duration.
pub fn pb_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: 0,
    }
}

/// A protobuf timestamp as chrono's: `None` when unset, an error naming
/// `field` when it lies outside what can be represented.
pub fn time(
    field: &str,
    t: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(t) = t else {
        return Ok(None);
    };
    let out_of_range = || Error::InvalidArgument(format!("{field} is out of range"));
    let nanos = u32::try_from(t.nanos)
        .ok()
        .filter(|n| *n <= 999_999_999)
        .ok_or_else(out_of_range)?;
    let at = DateTime::from_timestamp(t.seconds, nanos).ok_or_else(out_of_range)?;
    // Stored times are microseconds in an i64; keep well inside that.
    if at.timestamp().unsigned_abs() > MAX_TIMESTAMP_SECS {
        return Err(out_of_range());
    }
    Ok(Some(at))
}

/// Latest (and, negated, earliest) timestamp accepted: the year 9999.
const MAX_TIMESTAMP_SECS: u64 = 253_402_300_799;

/// An instant for callers.
pub fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(timestamp(t))
}

/// A requested scope, validated; unset means read-only.
pub fn scope_in(s: Option<pb::Scope>) -> Result<Scope, Error> {
    let s = s.unwrap_or_default();
    Ok(Scope::validated(s.read_only, &s.roles, &s.rights)?)
}

/// A scope for callers.
pub fn scope_out(s: &Scope) -> pb::Scope {
    pb::Scope {
        read_only: s.read_only,
        roles: s.roles.clone(),
        rights: s.rights.clone(),
    }
}

/// Settings for callers.
pub fn settings_out(s: &Settings) -> pb::SupportAccessSettings {
    pb::SupportAccessSettings {
        tenant_id: s.tenant_id.clone(),
        mode: match s.mode {
            crate::domain::Mode::Closed => pb::SupportAccessMode::Closed,
            crate::domain::Mode::OnRequest => pb::SupportAccessMode::OnRequest,
            crate::domain::Mode::Standing => pb::SupportAccessMode::Standing,
        } as i32,
        request_ttl: Some(pb_duration(s.request_ttl)),
        default_grant_duration: Some(pb_duration(s.default_grant)),
        max_grant_duration: Some(pb_duration(s.max_grant)),
        standing_scope: Some(scope_out(&s.standing_scope)),
        updated_by: s.updated_by.clone(),
        update_time: s.updated_at.map(timestamp),
    }
}

/// A mode from the wire.
pub fn mode_in(m: i32) -> Result<crate::domain::Mode, Error> {
    use pb::SupportAccessMode as M;
    match input::enum_value::<M>("mode", m)? {
        M::Closed => Ok(crate::domain::Mode::Closed),
        M::OnRequest => Ok(crate::domain::Mode::OnRequest),
        M::Standing => Ok(crate::domain::Mode::Standing),
        M::Unspecified => {
            Err(DomainError::Invalid("mode must be closed, on_request or standing".into()).into())
        }
    }
}

/// A request for callers, with its state as of `now`.
pub fn request_out(r: &AccessRequest, now: DateTime<Utc>) -> pb::AccessRequest {
    pb::AccessRequest {
        access_request_id: r.id.clone(),
        tenant_id: r.tenant_id.clone(),
        agent_id: r.agent.id.clone(),
        requested_by: r.requested_by.clone(),
        ticket_ref: r.ticket_ref.clone(),
        reason: r.reason.clone(),
        scope: Some(scope_out(&r.scope)),
        duration: Some(pb_duration(r.duration)),
        state: match r.state_at(now) {
            RequestState::Pending => pb::AccessRequestState::Pending,
            RequestState::Approved => pb::AccessRequestState::Approved,
            RequestState::Denied => pb::AccessRequestState::Denied,
            RequestState::Expired => pb::AccessRequestState::Expired,
            RequestState::Cancelled => pb::AccessRequestState::Cancelled,
        } as i32,
        create_time: ts(r.created_at),
        expire_time: ts(r.expire_at),
        decided_by: r.decided_by.clone(),
        decide_time: r.decided_at.and_then(ts),
        decision_note: r.decision_note.clone(),
        grant_id: r.grant_id.clone(),
    }
}

/// A request state filter from the wire: unset is no filter, an unknown
/// number is refused (never silently read as "no filter").
pub fn request_state_in(s: i32) -> Result<Option<RequestState>, Error> {
    use pb::AccessRequestState as S;
    Ok(match input::enum_value::<S>("state", s)? {
        S::Unspecified => None,
        S::Pending => Some(RequestState::Pending),
        S::Approved => Some(RequestState::Approved),
        S::Denied => Some(RequestState::Denied),
        S::Expired => Some(RequestState::Expired),
        S::Cancelled => Some(RequestState::Cancelled),
    })
}

/// A grant state filter from the wire: unset is no filter, an unknown
/// number is refused.
pub fn grant_state_in(s: i32) -> Result<Option<GrantState>, Error> {
    use pb::GrantState as S;
    Ok(match input::enum_value::<S>("state", s)? {
        S::Unspecified => None,
        S::Active => Some(GrantState::Active),
        S::Expired => Some(GrantState::Expired),
        S::Revoked => Some(GrantState::Revoked),
    })
}

/// A grant for callers, with its state as of `now`.
pub fn grant_out(g: &Grant, now: DateTime<Utc>) -> pb::Grant {
    let state = g.state_at(now);
    pb::Grant {
        grant_id: g.id.clone(),
        tenant_id: g.tenant_id.clone(),
        agent_id: g.agent.id.clone(),
        access_request_id: g.access_request_id.clone(),
        ticket_ref: g.ticket_ref.clone(),
        reason: g.reason.clone(),
        scope: Some(scope_out(&g.scope)),
        state: match state {
            GrantState::Active => pb::GrantState::Active,
            GrantState::Expired => pb::GrantState::Expired,
            GrantState::Revoked => pb::GrantState::Revoked,
        } as i32,
        granted_by: g.granted_by.id.clone(),
        create_time: ts(g.created_at),
        expire_time: ts(g.expire_at),
        revoke_time: if state == GrantState::Revoked {
            g.ended_at.and_then(ts)
        } else {
            None
        },
        revoked_by: g.revoked_by.clone(),
        credential_outstanding: g.credential_outstanding(now),
    }
}

/// A session for callers, with its grant when it still exists.
pub fn session_out(s: &Session, g: Option<&Grant>) -> pb::SupportSession {
    pb::SupportSession {
        session_id: s.id.clone(),
        tenant_id: s.tenant_id.clone(),
        agent_id: s.agent_id.clone(),
        grant_id: s.grant_id.clone(),
        reason: s.reason.clone(),
        ticket_ref: g.map(|g| g.ticket_ref.clone()).unwrap_or_default(),
        scope: Some(scope_out(&g.map(|g| g.scope.clone()).unwrap_or_default())),
        sign_in_time: ts(s.signed_in_at),
        sign_out_time: s.ended_at.and_then(ts),
        end_reason: s.end_reason.clone(),
        granted_by: g.map(|g| g.granted_by.id.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seconds: i64, nanos: i32) -> Option<prost_types::Duration> {
        Some(prost_types::Duration { seconds, nanos })
    }

    #[test]
    fn durations_never_panic_and_are_bounded() {
        assert_eq!(duration("duration", None).ok(), Some(None));
        assert_eq!(
            duration("duration", d(3600, 0)).ok(),
            Some(Some(Duration::hours(1)))
        );
        for (secs, nanos) in [(i64::MAX, 0), (i64::MAX / 1000 + 1, 0), (91 * 86_400, 0)] {
            let e = duration("duration", d(secs, nanos))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("duration is too long: at most 90 days"), "{e}");
        }
        assert!(duration("duration", d(-1, 0)).is_err());
        assert!(duration("duration", d(1, -1)).is_err());
        assert!(duration("duration", d(1, 1_000_000_000)).is_err());
        assert!(duration("duration", d(90 * 86_400, 999_999_999)).is_err());
        assert!(duration("duration", d(90 * 86_400, 0)).is_ok());
    }

    #[test]
    fn timestamps_tell_missing_from_out_of_range() {
        assert_eq!(time("expire_time", None).ok(), Some(None));
        let far = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        let e = time("expire_time", Some(far)).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("expire_time is out of range"));
        let bad_nanos = prost_types::Timestamp {
            seconds: 0,
            nanos: -5,
        };
        assert!(time("expire_time", Some(bad_nanos)).is_err());
        let ok = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        assert!(matches!(time("expire_time", Some(ok)), Ok(Some(_))));
    }
}
