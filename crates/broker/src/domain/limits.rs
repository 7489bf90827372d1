//! A tenant's limits and the durations derived from them: how long requests
//! wait, how long grants last, the ceiling, and when reminders go out.

use super::scope::Scope;
use super::{DomainError, Mode, Person};
use chrono::{DateTime, Duration, Utc};

/// Default time a pending request waits (24 h).
pub const DEFAULT_REQUEST_TTL: Duration = Duration::hours(24);
/// Default grant length (7 days, as in Bitrix24).
pub const DEFAULT_GRANT: Duration = Duration::days(7);
/// Default ceiling (30 days).
pub const DEFAULT_MAX_GRANT: Duration = Duration::days(30);
/// No tenant may allow more than this.
pub const HARD_MAX_GRANT: Duration = Duration::days(90);
/// Shortest and longest request lifetime a tenant may set.
pub const MIN_REQUEST_TTL: Duration = Duration::hours(1);
/// See [`MIN_REQUEST_TTL`].
pub const MAX_REQUEST_TTL: Duration = Duration::days(7);
/// Shortest grant anyone may ask for or approve.
pub const MIN_GRANT: Duration = Duration::minutes(5);

/// A tenant's support-access settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Tenant id.
    pub tenant_id: String,
    /// Mode.
    pub mode: Mode,
    /// How long a pending request waits.
    pub request_ttl: Duration,
    /// Grant length when the approver gives none.
    pub default_grant: Duration,
    /// Ceiling.
    pub max_grant: Duration,
    /// What standing mode allows.
    pub standing_scope: Scope,
    /// The admin who turned standing mode on (the granter of standing grants).
    pub standing_by: Person,
    /// Who last changed the settings (empty: never changed).
    pub updated_by: String,
    /// When.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Settings {
    /// A new tenant's settings: closed, default limits, read-only standing scope.
    pub fn defaults(tenant_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            mode: Mode::Closed,
            request_ttl: DEFAULT_REQUEST_TTL,
            default_grant: DEFAULT_GRANT,
            max_grant: DEFAULT_MAX_GRANT,
            standing_scope: Scope::read_only(),
            standing_by: Person::default(),
            updated_by: String::new(),
            updated_at: None,
        }
    }
}

/// A requested change of settings; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    /// New mode.
    pub mode: Option<Mode>,
    /// New request lifetime.
    pub request_ttl: Option<Duration>,
    /// New default grant length.
    pub default_grant: Option<Duration>,
    /// New ceiling.
    pub max_grant: Option<Duration>,
    /// New standing scope (already validated).
    pub standing_scope: Option<Scope>,
}

/// Applies a change made by `admin` at `now`, checking every limit.
pub fn apply_change(
    current: &Settings,
    change: SettingsChange,
    admin: &Person,
    now: DateTime<Utc>,
) -> Result<Settings, DomainError> {
    let mut s = current.clone();
    if let Some(ttl) = change.request_ttl {
        if ttl < MIN_REQUEST_TTL || ttl > MAX_REQUEST_TTL {
            return Err(DomainError::Invalid(
                "request_ttl must be between 1 hour and 7 days".into(),
            ));
        }
        s.request_ttl = ttl;
    }
    if let Some(max) = change.max_grant {
        if max < MIN_GRANT || max > HARD_MAX_GRANT {
            return Err(DomainError::Invalid(
                "max_grant_duration must be between 5 minutes and 90 days".into(),
            ));
        }
        s.max_grant = max;
    }
    if let Some(d) = change.default_grant {
        if d < MIN_GRANT {
            return Err(DomainError::Invalid(
                "default_grant_duration must be at least 5 minutes".into(),
            ));
        }
        s.default_grant = d;
    }
    if s.default_grant > s.max_grant {
        if change.default_grant.is_some() {
            return Err(DomainError::Invalid(
                "default_grant_duration may not exceed max_grant_duration".into(),
            ));
        }
        // Lowering the ceiling pulls the default down with it.
        s.default_grant = s.max_grant;
    }
    if let Some(scope) = change.standing_scope {
        s.standing_scope = scope;
    }
    if let Some(mode) = change.mode {
        if mode == Mode::Standing && current.mode != Mode::Standing {
            // Standing grants are made in the name of the admin who turned it on.
            s.standing_by = admin.clone();
        }
        s.mode = mode;
    }
    s.updated_by = admin.id.clone();
    s.updated_at = Some(now);
    Ok(s)
}

/// The duration of a new request: the asked one or the tenant default, within
/// the ceiling.
pub fn request_duration(asked: Option<Duration>, s: &Settings) -> Result<Duration, DomainError> {
    let d = asked.unwrap_or(s.default_grant);
    if d < MIN_GRANT {
        return Err(DomainError::Invalid(
            "the duration must be at least 5 minutes".into(),
        ));
    }
    if d > s.max_grant {
        return Err(DomainError::Invalid(format!(
            "the duration may not exceed the tenant's ceiling of {} days",
            s.max_grant.num_days()
        )));
    }
    Ok(d)
}

/// The approved duration: the approver may only shorten what was asked.
pub fn approved_duration(
    asked: Duration,
    approver: Option<Duration>,
    s: &Settings,
) -> Result<Duration, DomainError> {
    let d = match approver {
        None => asked,
        Some(d) if d > asked => {
            return Err(DomainError::Invalid(
                "an approval may shorten the duration asked for, never lengthen it".into(),
            ));
        }
        Some(d) if d < MIN_GRANT => {
            return Err(DomainError::Invalid(
                "the duration must be at least 5 minutes".into(),
            ));
        }
        Some(d) => d,
    };
    // The ceiling may have been lowered since the request was filed.
    Ok(d.min(s.max_grant))
}

/// End reason (of requests, grants and sessions) when a tenant closes
/// support access.
pub const SUPPORT_ACCESS_CLOSED: &str = "support-access-closed";

/// Nothing is granted while support access is closed. Closing cancelled what
/// was pending then, so reopening does not revive an old request either.
pub fn check_open_for_approval(mode: Mode) -> Result<(), DomainError> {
    if mode == Mode::Closed {
        return Err(DomainError::Conflict(
            "support access to this tenant is closed, so nothing can be approved; \
             open support access first (requests pending when it closed were cancelled \
             and must be filed again)"
                .into(),
        ));
    }
    Ok(())
}

/// When to remind admins of a pending request: at 80% of its lifetime.
pub fn reminder_time(created: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    created + ttl * 4 / 5
}

/// Checks a new end for an active grant approved at `approved_at`.
pub fn check_extension(
    current_end: DateTime<Utc>,
    new_end: DateTime<Utc>,
    approved_at: DateTime<Utc>,
    s: &Settings,
) -> Result<(), DomainError> {
    if new_end <= current_end {
        return Err(DomainError::Invalid(
            "the new end must be later than the current one".into(),
        ));
    }
    if new_end > approved_at + s.max_grant {
        return Err(DomainError::Invalid(format!(
            "a grant may last at most {} days from its approval",
            s.max_grant.num_days()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn durations_only_shorten_and_respect_the_ceiling() {
        let s = Settings::defaults("t");
        assert_eq!(request_duration(None, &s), Ok(DEFAULT_GRANT));
        assert!(request_duration(Some(Duration::days(31)), &s).is_err());
        assert_eq!(
            approved_duration(Duration::days(7), Some(Duration::days(2)), &s),
            Ok(Duration::days(2))
        );
        assert!(approved_duration(Duration::days(2), Some(Duration::days(3)), &s).is_err());
    }

    #[test]
    fn settings_change_checks_limits_and_records_standing_granter() {
        let s = Settings::defaults("t");
        let admin = Person {
            id: "a1".into(),
            name: "Ann".into(),
            email: "ann@x".into(),
        };
        let bad = SettingsChange {
            request_ttl: Some(Duration::minutes(5)),
            ..Default::default()
        };
        assert!(apply_change(&s, bad, &admin, t0()).is_err());
        let on = SettingsChange {
            mode: Some(Mode::Standing),
            ..Default::default()
        };
        let s2 = apply_change(&s, on, &admin, t0()).unwrap_or_else(|_| s.clone());
        assert_eq!(s2.mode, Mode::Standing);
        assert_eq!(s2.standing_by, admin);
        let lower = SettingsChange {
            max_grant: Some(Duration::days(3)),
            ..Default::default()
        };
        let s3 = apply_change(&s2, lower, &admin, t0()).unwrap_or_else(|_| s.clone());
        assert_eq!(s3.default_grant, Duration::days(3));
    }

    #[test]
    fn nothing_is_approved_while_closed() {
        assert!(check_open_for_approval(Mode::Closed).is_err());
        assert!(check_open_for_approval(Mode::OnRequest).is_ok());
        assert!(check_open_for_approval(Mode::Standing).is_ok());
    }

    #[test]
    fn extension_stays_within_ceiling_from_approval() {
        let s = Settings::defaults("t");
        let end = t0() + Duration::days(7);
        assert!(check_extension(end, end + Duration::days(1), t0(), &s).is_ok());
        assert!(check_extension(end, end - Duration::days(1), t0(), &s).is_err());
        assert!(check_extension(end, t0() + Duration::days(31), t0(), &s).is_err());
        assert_eq!(
            reminder_time(t0(), Duration::hours(10)),
            t0() + Duration::hours(8)
        );
    }
}
