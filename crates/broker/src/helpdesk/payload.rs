//! Reading a helpdesk's JSON payload through a connector's field mapping:
//! which event it is, and for a ticket event its tenant, reference and
//! whether it is now solved or closed. Pure.

use serde_json::Value;

/// Which helpdesk, and so which signature and payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Zendesk (event webhooks `zen:event-type:ticket.*`, or a trigger's JSON).
    Zendesk,
    /// Jira Cloud / Jira Service Management (`jira:issue_updated`).
    Jira,
    /// Standard Webhooks, with Keyholder's documented `ticket.*` shape.
    Standard,
}

impl Kind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Zendesk => "zendesk",
            Kind::Jira => "jira",
            Kind::Standard => "standard",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Zendesk, Kind::Jira, Kind::Standard]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The default paths of this kind's payload: ticket, status, agent
    /// e-mail, subject.
    pub fn defaults(self) -> [&'static str; 4] {
        match self {
            Kind::Zendesk => [
                "detail.id",
                "detail.status",
                "detail.assignee_email",
                "detail.subject",
            ],
            Kind::Jira => [
                "issue.key",
                "issue.fields.status.statusCategory.key",
                "issue.fields.assignee.emailAddress",
                "issue.fields.summary",
            ],
            Kind::Standard => [
                "data.ticket_id",
                "data.status",
                "data.assignee_email",
                "data.subject",
            ],
        }
    }
}

/// Where the fields are (dotted paths, defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The tenant id.
    pub tenant: String,
    /// The ticket reference.
    pub ticket: String,
    /// The status.
    pub status: String,
    /// The assignee's e-mail.
    pub agent_email: String,
    /// The subject.
    pub subject: String,
}

/// Statuses (any case) that close a ticket.
pub const CLOSING: &[&str] = &[
    "solved",
    "closed",
    "resolved",
    "done",
    "cancelled",
    "canceled",
];

/// What a payload means for Keyholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    /// The ticket is solved or closed: end its access.
    Closed {
        /// Tenant id as the payload gives it (not yet checked).
        tenant: String,
        /// Ticket reference.
        ticket: String,
    },
    /// Anything else: acknowledged and ignored.
    Ignored(&'static str),
}

/// The value at a dotted path; numbers are read as their decimal text.
pub fn at(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether this kind's envelope names a ticket event at all.
fn is_ticket_event(kind: Kind, v: &Value) -> bool {
    let field = |name: &str| v.get(name).and_then(Value::as_str);
    match kind {
        // An event webhook names its type; a trigger's own JSON has none.
        Kind::Zendesk => field("type").is_none_or(|t| t.starts_with("zen:event-type:ticket.")),
        Kind::Jira => matches!(
            field("webhookEvent"),
            Some("jira:issue_updated" | "jira:issue_created")
        ),
        Kind::Standard => field("type").is_some_and(|t| t.starts_with("ticket.")),
    }
}

/// Reads `v` through `m`.
pub fn interpret(kind: Kind, m: &Mapping, v: &Value) -> Meaning {
    if !is_ticket_event(kind, v) {
        return Meaning::Ignored("not a ticket event");
    }
    let closed = match kind {
        // Keyholder's own shape may say so by its type alone.
        Kind::Standard if v.get("type").and_then(Value::as_str) == Some("ticket.closed") => true,
        _ => at(v, &m.status)
            .is_some_and(|s| CLOSING.iter().any(|c| s.trim().eq_ignore_ascii_case(c))),
    };
    if !closed {
        return Meaning::Ignored("the ticket is not solved or closed");
    }
    let (Some(tenant), Some(ticket)) = (at(v, &m.tenant), at(v, &m.ticket)) else {
        return Meaning::Ignored("the payload lacks the tenant or ticket field");
    };
    Meaning::Closed { tenant, ticket }
}

/// Jira's payload timestamp (milliseconds since the epoch).
pub fn jira_timestamp(v: &Value) -> Option<i64> {
    v.get("timestamp").and_then(Value::as_i64)
}

/// Zendesk event webhooks carry an event id; dedup on it when present.
pub fn zendesk_event_id(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(kind: Kind, tenant: &str) -> Mapping {
        let [ticket, status, agent_email, subject] = kind.defaults();
        Mapping {
            tenant: tenant.into(),
            ticket: ticket.into(),
            status: status.into(),
            agent_email: agent_email.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn zendesk_status_change_to_solved_closes() {
        let v = json!({
            "type": "zen:event-type:ticket.status_changed",
            "id": "cbe4028c-7239-495d-b020-f22348516046",
            "detail": {"id": "35436", "status": "SOLVED", "organization_id": 4242},
            "event": {"current": "SOLVED", "previous": "OPEN"}
        });
        let m = mapping(Kind::Zendesk, "detail.organization_id");
        assert_eq!(
            interpret(Kind::Zendesk, &m, &v),
            Meaning::Closed {
                tenant: "4242".into(),
                ticket: "35436".into()
            }
        );
        let open = json!({"type": "zen:event-type:ticket.status_changed", "detail": {"id": "1", "status": "OPEN"}});
        assert!(matches!(
            interpret(Kind::Zendesk, &m, &open),
            Meaning::Ignored(_)
        ));
        let user = json!({"type": "zen:event-type:user.created", "detail": {"id": "1", "status": "closed"}});
        assert!(matches!(
            interpret(Kind::Zendesk, &m, &user),
            Meaning::Ignored(_)
        ));
    }

    #[test]
    fn jira_done_category_closes_and_other_events_are_ignored() {
        let v = json!({
            "timestamp": 1700000000000i64,
            "webhookEvent": "jira:issue_updated",
            "issue": {"key": "SUP-7", "fields": {
                "status": {"name": "Resolved", "statusCategory": {"key": "done"}},
                "customfield_10050": [{"value": "tenant-1"}]
            }}
        });
        let m = mapping(Kind::Jira, "issue.fields.customfield_10050.0.value");
        assert_eq!(
            interpret(Kind::Jira, &m, &v),
            Meaning::Closed {
                tenant: "tenant-1".into(),
                ticket: "SUP-7".into()
            }
        );
        let c = json!({"webhookEvent": "comment_created", "issue": {"key": "SUP-7"}});
        assert!(matches!(interpret(Kind::Jira, &m, &c), Meaning::Ignored(_)));
    }
}
