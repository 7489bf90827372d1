//! SignInToTenant, RefreshSupportSession, SignOutOfTenant, ListSupportSessions.

use super::convert::session_out;
use super::visibility::{require_admin, require_tenant_exists};
use super::{caller, random_token, sha256_hex};
use crate::Core;
use crate::domain::grant::Grant;
use crate::domain::session::Session;
use crate::domain::state::{GrantState, RequestState};
use crate::domain::{Mode, Person, input};
use crate::error::Error;
use crate::events;
use crate::session_token::{self, ScopeClaim, SessionClaims};
use crate::store::requests::RequestFilter;
use crate::store::sessions::CredentialProblem;
use chrono::{DateTime, Utc};
use keyholder_kit::auth::{AuthError, Principal};
use keyholder_kit::paging::Page;
use keyholder_proto::broker::v1::*;
use tonic::Request;

/// A session access token for `s` under `g`, ending no later than the grant.
fn session_token(
    core: &Core,
    s: &Session,
    g: &Grant,
    now: DateTime<Utc>,
) -> Result<(String, i64), Error> {
    let exp = (now + session_token::TOKEN_TTL)
        .timestamp()
        .min(g.expire_at.timestamp());
    let claims = SessionClaims {
        iss: session_token::ISSUER.into(),
        aud: session_token::AUDIENCE.into(),
        sub: s.agent_id.clone(),
        exp,
        nbf: now.timestamp(),
        iat: now.timestamp(),
        jti: uuid::Uuid::new_v4().to_string(),
        tid: s.tenant_id.clone(),
        gid: g.id.clone(),
        sid: s.id.clone(),
        scope: ScopeClaim::from(&g.scope),
        reason: s.reason.clone(),
    };
    Ok((core.keys.sign(&claims)?, exp))
}

fn exp_ts(exp: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: exp,
        nanos: 0,
    })
}

fn person(p: &Principal) -> Person {
    Person {
        id: p.id.clone(),
        name: p.display_name.clone(),
        email: p.email.clone(),
    }
}

/// Records the refused attempt for the tenant and answers PERMISSION_DENIED.
async fn refuse(
    core: &Core,
    p: &Principal,
    tenant_id: &str,
    reason: &str,
    cause: &str,
    grant_id: &str,
) -> Error {
    let now = core.now();
    let e = events::sign_in_refused(tenant_id, &person(p), reason, cause, grant_id, now);
    if let Err(err) = core.store.record_event(&e, now).await {
        tracing::error!(error = %err, tenant_id, "could not record a refused sign-in");
    }
    let label = core.identity.tenant_label(tenant_id).await;
    Error::PermissionDenied(format!(
        "support access to {label} is not granted; ask its administrator ({cause})"
    ))
}

/// Is the agent still active, as identity's standing feed says? When not,
/// every live session of theirs ends now (end reason `agent-deactivated`).
async fn still_active(core: &Core, agent_id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    core.standing.require_fresh().await?;
    if core.standing.get(agent_id).is_none_or(|s| s.active) {
        return Ok(true);
    }
    let n = core
        .store
        .end_sessions_of_agent(agent_id, AGENT_DEACTIVATED, now)
        .await?;
    tracing::info!(agent_id, sessions_ended = n, "deactivated agent refused");
    Ok(false)
}

/// End reason of sessions ended because their agent was deactivated.
pub(crate) const AGENT_DEACTIVATED: &str = "agent-deactivated";

/// Why an agent without a credential cannot enter under on-request mode.
async fn missing_credential_cause(core: &Core, tenant_id: &str, agent_id: &str) -> String {
    let f = RequestFilter {
        tenant_id: Some(tenant_id.to_string()),
        agent_id: Some(agent_id.to_string()),
        ..RequestFilter::default()
    };
    let page = Page {
        limit: 1,
        offset: 0,
    };
    let now = core.now();
    let latest = match core.store.list_requests(&f, page, now).await {
        Ok((r, _)) => r.into_iter().next(),
        Err(e) => {
            // Only the refusal's wording depends on it.
            tracing::warn!(error = %e, "could not read the agent's latest request");
            None
        }
    };
    match latest.map(|r| r.state_at(now)) {
        Some(RequestState::Denied) => "your access request was denied".into(),
        Some(RequestState::Pending) => "your access request has not been approved yet".into(),
        Some(RequestState::Expired) => "your access request expired undecided".into(),
        _ => "no one-time credential was given; an approved access request is needed".into(),
    }
}

pub(super) async fn sign_in(
    core: &Core,
    req: Request<SignInToTenantRequest>,
) -> Result<SignInToTenantResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    p.require_support_agent()?;
    let mut r = req.into_inner();
    r.tenant_id = input::tenant_id(&r.tenant_id)?;
    r.reason = input::reason(&r.reason)?;
    // Before any refusal is recorded: a refused attempt on a made-up tenant
    // would otherwise open an audit chain for it.
    require_tenant_exists(core, &r.tenant_id).await?;
    let reason = r.reason.clone();
    if !p.mfa {
        return Err(refuse(
            core,
            p,
            &r.tenant_id,
            &reason,
            "sign in with your second factor (TOTP) first",
            "",
        )
        .await);
    }
    // A dismissed agent's token was already refused at the gate.
    let now = core.now();
    let s = core.store.settings(&r.tenant_id).await?;
    if s.mode == Mode::Closed {
        return Err(refuse(
            core,
            p,
            &r.tenant_id,
            &reason,
            "the tenant has closed support access",
            "",
        )
        .await);
    }
    let refresh = random_token(32)?;
    let id = uuid::Uuid::now_v7().to_string();
    let session = Session::open(id, &r.tenant_id, &p.id, &reason, sha256_hex(&refresh), now);
    let (session, grant) = if !r.credential.is_empty() {
        let hash = sha256_hex(r.credential.trim());
        match core
            .store
            .sign_in_with_credential(&hash, session, now)
            .await?
        {
            Ok(pair) => pair,
            Err(problem) => {
                let cause = match problem {
                    CredentialProblem::Unknown => "the one-time credential is not valid",
                    CredentialProblem::Used => "the one-time credential has already been used",
                    CredentialProblem::GrantEnded(GrantState::Revoked) => "the grant was revoked",
                    CredentialProblem::GrantEnded(_) => "the grant has expired",
                };
                return Err(refuse(core, p, &r.tenant_id, &reason, cause, "").await);
            }
        }
    } else if s.mode == Mode::Standing {
        let id = uuid::Uuid::now_v7().to_string();
        let template = Grant::standing(id, &r.tenant_id, person(p), &reason, &s, now);
        core.store.sign_in_standing(template, session, now).await?
    } else {
        let cause = missing_credential_cause(core, &r.tenant_id, &p.id).await;
        return Err(refuse(core, p, &r.tenant_id, &reason, &cause, "").await);
    };
    let (access_token, exp) = session_token(core, &session, &grant, now)?;
    Ok(SignInToTenantResponse {
        session: Some(session_out(&session, Some(&grant))),
        access_token,
        access_token_expire_time: exp_ts(exp),
        refresh_token: refresh,
    })
}

pub(super) async fn refresh(
    core: &Core,
    req: Request<RefreshSupportSessionRequest>,
) -> Result<RefreshSupportSessionResponse, Error> {
    // The refresh token is the credential here: the session token it renews
    // may already have expired.
    let r = req.into_inner();
    let gone =
        || Error::Unauthenticated("the refresh token is not valid or was already used".into());
    if r.refresh_token.is_empty() {
        return Err(gone());
    }
    let next = random_token(32)?;
    let s = core
        .store
        .rotate_refresh(&sha256_hex(r.refresh_token.trim()), &sha256_hex(&next))
        .await?
        .ok_or_else(gone)?;
    let g = core.store.grant(&s.grant_id).await?.ok_or_else(gone)?;
    let now = core.now();
    if !still_active(core, &s.agent_id, now).await? {
        return Err(Error::PermissionDenied(
            "the support agent's account has been deactivated; the support session has ended"
                .into(),
        ));
    }
    if !g.is_live(now) {
        return Err(Error::PermissionDenied(
            "the grant behind this support session has ended".into(),
        ));
    }
    let (access_token, exp) = session_token(core, &s, &g, now)?;
    Ok(RefreshSupportSessionResponse {
        access_token,
        access_token_expire_time: exp_ts(exp),
        refresh_token: next,
    })
}

pub(super) async fn sign_out(
    core: &Core,
    req: Request<SignOutOfTenantRequest>,
) -> Result<SignOutOfTenantResponse, Error> {
    let token = keyholder_kit::auth::bearer(req.metadata())?.to_string();
    let is_session_token = jsonwebtoken::decode_header(&token)
        .ok()
        .and_then(|h| h.typ)
        .is_some_and(|t| t == session_token::TOKEN_TYPE);
    let now = core.now();
    let mut session_id = input::optional_uuid("session_id", &req.get_ref().session_id)?;
    let owner = if is_session_token {
        let c = core.keys.verify(&token, now).await?;
        if session_id.is_empty() {
            session_id = c.sid.clone();
        } else if session_id != c.sid {
            return Err(
                AuthError::Forbidden("this token belongs to another session".into()).into(),
            );
        }
        c.sub
    } else {
        let who = caller(&req)?;
        who.0.require_support_agent()?;
        who.0.id.clone()
    };
    let s = core
        .store
        .session(&session_id)
        .await?
        .filter(|s| s.agent_id == owner)
        .ok_or_else(|| Error::NotFound(format!("support session {session_id} not found")))?;
    let g = core
        .store
        .grant(&s.grant_id)
        .await?
        .ok_or_else(|| Error::Internal("session without grant".into()))?;
    let ended =
        core.store.sign_out(&s, &g, now).await?.ok_or_else(|| {
            Error::FailedPrecondition("the support session has already ended".into())
        })?;
    Ok(SignOutOfTenantResponse {
        session: Some(session_out(&ended, Some(&g))),
    })
}

pub(super) async fn list(
    core: &Core,
    req: Request<ListSupportSessionsRequest>,
) -> Result<ListSupportSessionsResponse, Error> {
    let who = caller(&req)?;
    let r = req.into_inner();
    let tenant_id = input::tenant_id(&r.tenant_id)?;
    require_admin(&who.0, &tenant_id)?;
    let page = Page::parse(r.page_size, &r.page_token)?;
    let (rows, next) = core
        .store
        .list_sessions(&tenant_id, r.active_only, page)
        .await?;
    Ok(ListSupportSessionsResponse {
        sessions: rows
            .iter()
            .map(|(s, g)| session_out(s, g.as_ref()))
            .collect(),
        next_page_token: next,
    })
}
