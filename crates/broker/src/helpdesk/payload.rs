//! Reading a helpdesk's JSON payload through a connector's field mapping:
//! which event it is, and for a ticket event its tenant, reference, whether
//! it is now solved or closed, or whether it carries the connector's request
//! tag. Pure.

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
    /// e-mail, subject, tags.
    pub fn defaults(self) -> [&'static str; 5] {
        match self {
            Kind::Zendesk => [
                "detail.id",
                "detail.status",
                "detail.assignee_email",
                "detail.subject",
                "detail.tags",
            ],
            Kind::Jira => [
                "issue.key",
                "issue.fields.status.statusCategory.key",
                "issue.fields.assignee.emailAddress",
                "issue.fields.summary",
                "issue.fields.labels",
            ],
            Kind::Standard => [
                "data.ticket_id",
                "data.status",
                "data.assignee_email",
                "data.subject",
                "data.tags",
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
    /// The tags.
    pub tags: String,
    /// The tag that opens an access request (empty: none).
    pub request_tag: String,
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
    /// The ticket carries the request tag: ask for access for its assignee.
    Tagged {
        /// Tenant id as the payload gives it (not yet checked).
        tenant: String,
        /// Ticket reference.
        ticket: String,
        /// The assignee's e-mail.
        agent_email: String,
        /// The subject (may be empty).
        subject: String,
    },
    /// Anything else: acknowledged and ignored.
    Ignored(&'static str),
}

fn value_at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The tags at `path`: an array of strings, or one string of tags
/// separated by spaces or commas.
pub fn tags_at(v: &Value, path: &str) -> Vec<String> {
    match value_at(v, path) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_string())
            .collect(),
        Some(Value::String(s)) => s
            .split([' ', ','])
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The value at a dotted path; numbers are read as their decimal text.
pub fn at(v: &Value, path: &str) -> Option<String> {
    match value_at(v, path)? {
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
    let tagged = !closed
        && !m.request_tag.is_empty()
        && tags_at(v, &m.tags)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&m.request_tag));
    if !closed && !tagged {
        return Meaning::Ignored("the ticket is not solved or closed");
    }
    let (Some(tenant), Some(ticket)) = (at(v, &m.tenant), at(v, &m.ticket)) else {
        return Meaning::Ignored("the payload lacks the tenant or ticket field");
    };
    if closed {
        return Meaning::Closed { tenant, ticket };
    }
    let Some(agent_email) = at(v, &m.agent_email).filter(|e| !e.trim().is_empty()) else {
        return Meaning::Ignored("the tagged ticket has no assignee e-mail");
    };
    Meaning::Tagged {
        tenant,
        ticket,
        agent_email,
        subject: at(v, &m.subject).unwrap_or_default(),
    }
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
        let [ticket, status, agent_email, subject, tags] = kind.defaults();
        Mapping {
            tenant: tenant.into(),
            ticket: ticket.into(),
            status: status.into(),
            agent_email: agent_email.into(),
            subject: subject.into(),
            tags: tags.into(),
            request_tag: "keyholder-access".into(),
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

    #[test]
    fn a_tagged_open_ticket_asks_for_its_assignee() {
        let m = mapping(Kind::Zendesk, "detail.org");
        let v = json!({"detail": {
            "id": "9", "status": "Open", "org": "t-1", "subject": "Export fails",
            "tags": "vip keyholder-access", "assignee_email": "sam@vendor.example"
        }});
        assert_eq!(
            interpret(Kind::Zendesk, &m, &v),
            Meaning::Tagged {
                tenant: "t-1".into(),
                ticket: "9".into(),
                agent_email: "sam@vendor.example".into(),
                subject: "Export fails".into(),
            }
        );
        let untagged =
            json!({"detail": {"id": "9", "status": "Open", "org": "t-1", "tags": ["vip"]}});
        assert!(matches!(
            interpret(Kind::Zendesk, &m, &untagged),
            Meaning::Ignored(_)
        ));
        let no_assignee = json!({"detail": {"id": "9", "status": "Open", "org": "t-1", "tags": ["keyholder-access"]}});
        assert!(matches!(
            interpret(Kind::Zendesk, &m, &no_assignee),
            Meaning::Ignored(_)
        ));
        // Closing wins over the tag.
        let solved = json!({"detail": {"id": "9", "status": "solved", "org": "t-1", "tags": ["keyholder-access"]}});
        assert!(matches!(
            interpret(Kind::Zendesk, &m, &solved),
            Meaning::Closed { .. }
        ));
    }
}
