//! CheckAccess (the hot path) and ReportAction, for backends with scope
//! `broker.check_access`. A check verifies the session token (once per token),
//! then reads the session's state from the in-memory cache; the database is
//! read only on a miss or when the entry is older than the cache's bound.

use super::caller;
use crate::Core;
use crate::cache::SessionState;
use crate::domain::input;
use crate::error::Error;
use crate::events;
use crate::session_token::{SessionClaims, check_time};
use keyholder_proto::audit::v1::Event;
use keyholder_proto::broker::v1::*;
use std::sync::Arc;
use tonic::Request;

/// Backends' scope.
pub(crate) const CHECK_ACCESS: &str = "broker.check_access";

async fn claims(core: &Core, token: &str) -> Result<Arc<SessionClaims>, Error> {
    let now = core.now();
    if let Some(c) = core.session_tokens.get(token).await {
        check_time(&c, now)?;
        return Ok(c);
    }
    let c = Arc::new(core.keys.verify(token, now).await?);
    core.session_tokens.insert(token, c.clone()).await;
    Ok(c)
}

/// The session's state, from the cache or (one load per session at a time)
/// from the database.
async fn state(core: &Core, session_id: &str) -> Result<Option<Arc<SessionState>>, Error> {
    core.store
        .cache()
        .get_or_load(session_id, async {
            Ok(core
                .store
                .session_with_grant(session_id)
                .await?
                .map(|(s, g)| SessionState::of(&s, &g)))
        })
        .await
}

/// Entity and action of a check or report, trimmed and bounded.
fn entity_action(entity: &str, action: &str) -> Result<(String, String), Error> {
    Ok((
        input::required_name("entity", entity)?,
        input::required_name("action", action)?,
    ))
}

/// The session behind a token, for a tenant: its claims and cached state,
/// or why it gives no access at all (with its state when it is this
/// tenant's session, ended: a refusal recorded in its log).
enum Session {
    Live(Arc<SessionClaims>, Arc<SessionState>),
    Refused(
        Option<Arc<SessionClaims>>,
        Option<Arc<SessionState>>,
        String,
    ),
}

async fn session(core: &Core, token: &str, tenant_id: &str) -> Result<Session, Error> {
    let c = match claims(core, token).await {
        Ok(c) => c,
        Err(e) => return Ok(Session::Refused(None, None, e.to_string())),
    };
    if c.tid != tenant_id {
        return Ok(Session::Refused(
            Some(c),
            None,
            "the support session is for another tenant".into(),
        ));
    }
    let Some(st) = state(core, &c.sid).await? else {
        return Ok(Session::Refused(
            Some(c),
            None,
            "the support session does not exist".into(),
        ));
    };
    match not_live(core, &st, core.now()) {
        Some(why) => Ok(Session::Refused(Some(c), Some(st), why)),
        None => Ok(Session::Live(c, st)),
    }
}

/// The ids a decision names: session, grant, agent.
fn ids(c: Option<&SessionClaims>) -> (String, String, String) {
    c.map(|c| (c.sid.clone(), c.gid.clone(), c.sub.clone()))
        .unwrap_or_default()
}

pub(super) async fn check_access(
    core: &Core,
    req: Request<CheckAccessRequest>,
) -> Result<CheckAccessResponse, Error> {
    let who = caller(&req)?;
    who.0.require_scope(CHECK_ACCESS)?;
    let r = req.into_inner();
    let tenant_id = input::tenant_id(&r.tenant_id)?;
    let (entity, action) = entity_action(&r.entity, &r.action)?;
    let (allowed, reason, claims, st) = match session(core, &r.session_token, &tenant_id).await? {
        Session::Refused(c, st, why) => (false, why, c, st),
        Session::Live(c, st) => {
            let d = st.scope.allows(&entity, &action);
            (d.allowed, d.reason, Some(c), Some(st))
        }
    };
    if r.record
        && let Some(st) = st
    {
        let now = core.now();
        core.store
            .record_event(&events::action(&st, &entity, &action, allowed, now), now)
            .await?;
    }
    let (session_id, grant_id, agent_id) = ids(claims.as_deref());
    Ok(CheckAccessResponse {
        allowed,
        reason,
        session_id,
        grant_id,
        agent_id,
    })
}

/// The most pairs one CheckAccessBatch may ask about.
pub(crate) const MAX_BATCH: usize = 100;

pub(super) async fn check_access_batch(
    core: &Core,
    req: Request<CheckAccessBatchRequest>,
) -> Result<CheckAccessBatchResponse, Error> {
    let who = caller(&req)?;
    who.0.require_scope(CHECK_ACCESS)?;
    let r = req.into_inner();
    let tenant_id = input::tenant_id(&r.tenant_id)?;
    if r.checks.is_empty() || r.checks.len() > MAX_BATCH {
        return Err(Error::InvalidArgument(format!(
            "checks must hold 1 to {MAX_BATCH} entity/action pairs, not {}",
            r.checks.len()
        )));
    }
    let pairs = r
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok((
                input::required_name(&format!("checks[{i}].entity"), &c.entity)?,
                input::required_name(&format!("checks[{i}].action"), &c.action)?,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let (decisions, claims, st) = match session(core, &r.session_token, &tenant_id).await? {
        Session::Refused(c, st, why) => {
            let deny = AccessDecision {
                allowed: false,
                reason: why,
            };
            (vec![deny; pairs.len()], c, st)
        }
        Session::Live(c, st) => {
            let decisions = pairs
                .iter()
                .map(|(entity, action)| {
                    let d = st.scope.allows(entity, action);
                    AccessDecision {
                        allowed: d.allowed,
                        reason: d.reason,
                    }
                })
                .collect();
            (decisions, Some(c), Some(st))
        }
    };
    if r.record
        && let Some(st) = st
    {
        let now = core.now();
        let events: Vec<Event> = pairs
            .iter()
            .zip(&decisions)
            .map(|((entity, action), d)| events::action(&st, entity, action, d.allowed, now))
            .collect();
        core.store.record_events(&events, now).await?;
    }
    let (session_id, grant_id, agent_id) = ids(claims.as_deref());
    Ok(CheckAccessBatchResponse {
        decisions,
        session_id,
        grant_id,
        agent_id,
    })
}

/// Why the session no longer gives access, if it does not. The agent's
/// standing is read from the table identity's feed keeps, so a dismissal
/// counts from the moment it arrives, before the session row is ended.
fn not_live(core: &Core, st: &SessionState, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    if !st.live {
        Some(st.ended_reason.clone())
    } else if core.standing.get(&st.agent_id).is_some_and(|s| !s.active) {
        Some(format!(
            "the support session has ended ({})",
            super::AGENT_DEACTIVATED
        ))
    } else if now >= st.grant_expire {
        Some("the grant has expired".into())
    } else {
        None
    }
}

/// Records what an agent did in a live session. Refused once the session or
/// its grant has ended; a retried report (same request_id) is recorded once.
pub(super) async fn report_action(
    core: &Core,
    req: Request<ReportActionRequest>,
) -> Result<ReportActionResponse, Error> {
    let who = caller(&req)?;
    who.0.require_scope(CHECK_ACCESS)?;
    let r = req.into_inner();
    let request_id = input::request_id(&r.request_id)?;
    let (entity, action) = entity_action(&r.entity, &r.action)?;
    let resource_id = input::optional_name("resource_id", &r.resource_id)?;
    let detail = input::optional_text("detail", &r.detail, input::MAX_DETAIL_LEN)?;
    let c = claims(core, &r.session_token).await?;
    let st = state(core, &c.sid)
        .await?
        .ok_or_else(|| Error::NotFound("the support session does not exist".into()))?;
    let now = core.now();
    if let Some(why) = not_live(core, &st, now) {
        let why = why
            .strip_prefix("the support session has ended (")
            .and_then(|w| w.strip_suffix(')'))
            .map(str::to_string)
            .unwrap_or(why);
        return Err(Error::FailedPrecondition(format!(
            "the support session has ended ({why})"
        )));
    }
    let event_id = action_event_id(&who.0.id, &st.session_id, &request_id);
    let allowed = st.scope.allows(&entity, &action).allowed;
    let reported = events::Reported {
        event_id: event_id.clone(),
        entity: &entity,
        action: &action,
        allowed,
        resource_id,
        detail,
    };
    let e = events::reported_action(&st, reported, now);
    core.store.record_action(&e, now).await?;
    Ok(ReportActionResponse { event_id })
}

/// Names the reported actions' events (a UUIDv5, so any string is a retry
/// key); keeps them apart from every other UUIDv5 namespace.
const ACTION_EVENTS: uuid::Uuid = uuid::Uuid::from_u128(0x6b65_7968_6f6c_6465_7200_0000_0000_0001);

/// The event id of a reported action: the same (caller, session, request id)
/// always gives the same id, so a retry is recorded once, whatever the key's
/// shape; without a request id every report is its own event. The parts are
/// length-prefixed so that no two triples run together into one name.
fn action_event_id(caller: &str, session_id: &str, request_id: &str) -> String {
    if request_id.is_empty() {
        return uuid::Uuid::now_v7().to_string();
    }
    let name = format!(
        "{}:{caller}{}:{session_id}{}:{request_id}",
        caller.len(),
        session_id.len(),
        request_id.len()
    );
    uuid::Uuid::new_v5(&ACTION_EVENTS, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::action_event_id;

    #[test]
    fn action_event_ids_are_stable_per_caller_session_and_key() {
        let a = action_event_id("svc-1", "s-1", "retry 1");
        assert_eq!(a, action_event_id("svc-1", "s-1", "retry 1"));
        assert_ne!(a, action_event_id("svc-2", "s-1", "retry 1"));
        assert_ne!(a, action_event_id("svc-1", "s-2", "retry 1"));
        assert_ne!(a, action_event_id("svc-1", "s-1", "retry 2"));
        assert_ne!(
            action_event_id("a", "bc", "d"),
            action_event_id("ab", "c", "d")
        );
        assert_ne!(action_event_id("a", "b", ""), action_event_id("a", "b", ""));
    }
}
