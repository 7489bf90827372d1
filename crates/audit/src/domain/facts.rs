//! What each kind of mail states, read from its event: the access asked for
//! and the decision deadline on a request, the access granted (from, until,
//! scope) and who decided on a decision, which end and when on an ending. The
//! templates give these facts their labels; this module only finds them.

use super::event::{Kind, NewEvent};
use super::notify::Audience;
use super::templates::{Locale, Rendered, TemplateError, duration, render, time};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The facts a mail template is given. An empty string means "not known for
/// this event"; the templates decide what to say then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// The mail goes to the agent (their own wording: "your request").
    pub to_agent: bool,
    /// Tenant display name.
    pub tenant: String,
    /// The agent as `Name <email>`.
    pub agent: String,
    /// The agent's name alone.
    pub agent_name: String,
    /// The reason given (for the request or the sign-in).
    pub reason: String,
    /// Ticket.
    pub ticket: String,
    /// The deciding admin's note.
    pub note: String,
    /// Access request id.
    pub request_id: String,
    /// Grant id.
    pub grant_id: String,
    /// When the event happened.
    pub occurred: String,
    /// Who did it (decided, extended, revoked, closed the ticket); empty when
    /// Keyholder itself did (expiry).
    pub actor: String,
    /// The admin who granted the access.
    pub granted_by: String,
    /// Requests: how long the access asked for lasts.
    pub asked_duration: String,
    /// New requests: when the asked-for access would end if approved at once
    /// (creation + duration).
    pub asked_until: String,
    /// Requests: by when an admin must decide before the request lapses.
    pub decide_by: String,
    /// Grants: when the access began (approval).
    pub access_from: String,
    /// Grants: when the access ends (or was to end).
    pub access_until: String,
    /// Extensions: the end before the extension.
    pub previous_until: String,
    /// Ending soon: how long is left.
    pub time_left: String,
    /// The scope asked for or granted, in words.
    pub scope: String,
    /// Revocations: `revoked`, `ticket-closed` or `support-access-closed`.
    pub end_cause: String,
    /// Revocations: the reason the revoking admin gave.
    pub end_reason: String,
    /// Sign-ins to the chief admin: the receipt, the event's place in the
    /// tenant's chain and the chain's hash there (see [`Receipt`]).
    pub receipt_sequence: String,
    /// The receipt's hash.
    pub receipt_hash: String,
}

/// Where an event stands in its tenant's chain: given to the customer in
/// the sign-in mail, it lets them check later (`VerifyReceipt`) that the
/// event and everything before it are still in the log unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The event's sequence.
    pub sequence: i64,
    /// The chain's hash at it.
    pub hash: String,
}

/// The template of an event kind, for kinds that are mailed through a job.
pub fn template_of(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::SignIn => "sign_in",
        Kind::RequestCreated => "request_created",
        Kind::RequestExpiring => "request_expiring",
        Kind::RequestExpired => "request_expired",
        Kind::RequestApproved => "request_approved",
        Kind::RequestDenied => "request_denied",
        Kind::GrantExtended => "grant_extended",
        Kind::GrantEnding => "grant_ending",
        Kind::GrantExpired => "grant_expired",
        Kind::GrantRevoked => "grant_revoked",
        _ => return None,
    })
}

/// The scope attribute broker writes (`scope`, JSON); only what a reader needs.
#[derive(Debug, Default, Deserialize)]
struct ScopeAttr {
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    rights: Vec<String>,
}

fn scope_words(json: &str, locale: Locale) -> String {
    let Ok(s) = serde_json::from_str::<ScopeAttr>(json) else {
        return String::new();
    };
    let (read_only, roles, rights) = match locale {
        Locale::En => ("read-only", "roles", "rights"),
        Locale::Ru => ("только чтение", "роли", "права"),
    };
    let mut parts = Vec::new();
    if s.read_only {
        parts.push(read_only.to_string());
    }
    if !s.roles.is_empty() {
        parts.push(format!("{roles}: {}", s.roles.join(", ")));
    }
    if !s.rights.is_empty() {
        parts.push(format!("{rights}: {}", s.rights.join(", ")));
    }
    parts.join("; ")
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The facts of `event` for `audience`, in `locale`; `tenant_name` is the
/// tenant's display name (its id when identity gave none).
pub fn facts(event: &NewEvent, audience: Audience, locale: Locale, tenant_name: &str) -> Facts {
    let attr = |k: &str| event.attributes.get(k).cloned().unwrap_or_default();
    let agent = event
        .agent
        .clone()
        .or_else(|| event.actor.clone().filter(|a| a.kind == "support_agent"))
        .unwrap_or_default();
    let actor = event
        .actor
        .as_ref()
        .filter(|a| a.kind != "system")
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let granted_by = event
        .granted_by
        .as_ref()
        .map(|g| g.name.clone())
        .unwrap_or_default();
    let end = event.expire_time;
    let asked = attr("duration_secs")
        .parse::<i64>()
        .ok()
        .map(chrono::Duration::seconds);
    let (mut asked_until, mut decide_by, mut access_from, mut access_until) =
        (String::new(), String::new(), String::new(), String::new());
    let mut time_left = String::new();
    match event.kind {
        // A request's expire_time is its decision deadline, never the end of
        // the access asked for: that one runs from approval.
        Kind::RequestCreated
        | Kind::RequestExpiring
        | Kind::RequestExpired
        | Kind::RequestDenied
        | Kind::RequestCancelled => {
            decide_by = end.map(time).unwrap_or_default();
            if event.kind == Kind::RequestCreated
                && let Some(d) = asked
            {
                asked_until = time(event.occur_time + d);
            }
        }
        Kind::RequestApproved => {
            access_from = time(event.occur_time);
            access_until = end.map(time).unwrap_or_default();
        }
        _ => {
            access_until = end.map(time).unwrap_or_default();
            if let Some(e) = end {
                time_left = duration(e - event.occur_time, locale);
            }
        }
    }
    let end_cause = match attr("end_cause").as_str() {
        "" => "revoked".to_string(),
        other => other.to_string(),
    };
    Facts {
        to_agent: audience == Audience::Agent,
        tenant: if tenant_name.is_empty() {
            event.tenant_id.clone()
        } else {
            tenant_name.to_string()
        },
        agent: if agent.email.is_empty() {
            agent.name.clone()
        } else {
            format!("{} <{}>", agent.name, agent.email)
        },
        agent_name: agent.name,
        reason: event.reason.clone(),
        ticket: event.ticket_ref.clone(),
        note: attr("note"),
        request_id: event.access_request_id.clone(),
        grant_id: event.grant_id.clone(),
        occurred: time(event.occur_time),
        actor,
        granted_by,
        asked_duration: asked.map(|d| duration(d, locale)).unwrap_or_default(),
        asked_until,
        decide_by,
        access_from,
        access_until,
        previous_until: parse_time(&attr("previous_expire_time"))
            .map(time)
            .unwrap_or_default(),
        time_left,
        scope: scope_words(&attr("scope"), locale),
        end_cause,
        end_reason: match event.kind {
            Kind::GrantRevoked => attr("end_reason"),
            _ => String::new(),
        },
        receipt_sequence: String::new(),
        receipt_hash: String::new(),
    }
}

/// The mail an event means for one audience, or None for kinds never mailed
/// through a job.
pub fn render_event(
    event: &NewEvent,
    audience: Audience,
    locale: Locale,
    tenant_name: &str,
) -> Option<Result<Rendered, TemplateError>> {
    render_with_receipt(event, audience, locale, tenant_name, None)
}

/// [`render_event`], carrying `receipt` when the event is a sign-in mailed
/// to the chief admin (the one mail the customer is sure to get).
pub fn render_with_receipt(
    event: &NewEvent,
    audience: Audience,
    locale: Locale,
    tenant_name: &str,
    receipt: Option<&Receipt>,
) -> Option<Result<Rendered, TemplateError>> {
    let template = template_of(event.kind)?;
    let mut f = facts(event, audience, locale, tenant_name);
    if let Some(r) = receipt
        && event.kind == Kind::SignIn
        && audience == Audience::ChiefAdmin
    {
        f.receipt_sequence = r.sequence.to_string();
        f.receipt_hash = r.hash.clone();
    }
    Some(render(template, locale, &f))
}

#[cfg(test)]
#[path = "facts_tests.rs"]
mod tests;
