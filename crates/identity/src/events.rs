//! Audit events of identity changes: what a tenant's compliance review needs
//! to see (who changed which person, admin, role, app or department, and
//! when). Written to the outbox in the change's own transaction. Never carries
//! a secret in its attributes: ids, names, e-mails and rights only. The one
//! secret that travels, an invitation's acceptance token, has its own field
//! that audit mails and never logs (see [`integrator_invited`]).

mod outcomes;

pub use outcomes::{Outcome, of, user_actor};

use chrono::{DateTime, Utc};
use keyholder_kit::auth::Principal;
use keyholder_proto::audit::v1::{Actor, Event, EventKind};

/// `source` of every identity event.
pub const SOURCE: &str = "identity";
/// Client id of identity's own service account (it delivers to audit).
pub const SERVICE_ACCOUNT_ID: &str = "keyholder-identity";
/// The one scope of that account.
pub const AUDIT_WRITE_SCOPE: &str = "audit.events.write";

/// Longest attribute value kept whole; a longer one (a role's rights, an
/// app's access list, many department ids) is summarised by [`attr_value`].
pub const MAX_ATTR_VALUE: usize = 2_000;
/// Budget for all attributes of one event (keys and values), well under
/// audit's limit of 16,000 bytes, which refuses the event otherwise.
pub const MAX_ATTRS_TOTAL: usize = 12_000;

/// An attribute value as stored in an event: whole when at most `limit`
/// bytes, otherwise its item count (lines or comma-separated entries), its
/// length and a SHA-256 prefix, so a reviewer can still tell two values
/// apart and compare with the stored one.
pub fn attr_value(value: &str, limit: usize) -> String {
    if value.len() <= limit {
        return value.to_string();
    }
    use sha2::{Digest, Sha256};
    let items = value
        .split(['\n', ','])
        .filter(|s| !s.trim().is_empty())
        .count();
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    format!(
        "{items} items, {} bytes, sha256:{}",
        value.len(),
        &digest[..16]
    )
}

/// The person or account that made the change, as their token names them.
pub fn actor(p: &Principal) -> Actor {
    Actor {
        actor_id: p.id.clone(),
        kind: p.kind.as_str().to_string(),
        display_name: p.display_name.clone(),
        email: p.email.clone(),
    }
}

/// Identity itself (for example slowing guesses after failed sign-ins).
pub fn system() -> Actor {
    Actor {
        actor_id: SERVICE_ACCOUNT_ID.into(),
        kind: "system".into(),
        display_name: "Keyholder identity".into(),
        email: String::new(),
    }
}

/// A protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The event of one change in a tenant, with a fresh UUIDv7 id; `change` is
/// its snake_case name. Changes outside any tenant (support agents, the
/// operator) are no tenant's business: none.
pub fn change(
    tenant_id: &str,
    change: &str,
    actor: Actor,
    now: DateTime<Utc>,
    attributes: &[(&str, &str)],
) -> Vec<Event> {
    if tenant_id.is_empty() {
        return Vec::new();
    }
    let mut e = Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        kind: EventKind::IdentityChanged as i32,
        occur_time: Some(timestamp(now)),
        actor: Some(actor),
        source: SOURCE.into(),
        ..Event::default()
    };
    e.attributes.insert("change".into(), change.into());
    for (k, v) in attributes {
        e.attributes
            .insert((*k).into(), attr_value(v, MAX_ATTR_VALUE));
    }
    // Many long values together: summarise every one that is not short, so
    // the event always fits audit's limit.
    let total: usize = e.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_ATTRS_TOTAL {
        for (k, v) in attributes {
            e.attributes.insert((*k).into(), attr_value(v, 64));
        }
    }
    vec![e]
}

/// What the invitation e-mail needs to say.
#[derive(Debug, Clone)]
pub struct InvitationMail<'a> {
    /// Invitation id.
    pub invitation_id: &'a str,
    /// The invitee's e-mail (the recipient).
    pub email: &'a str,
    /// The invitee's display name.
    pub display_name: &'a str,
    /// The partner.
    pub partner_id: &'a str,
    /// Its name.
    pub partner_name: &'a str,
    /// The tenant's name.
    pub tenant_name: &'a str,
    /// The tenant's e-mail language (`en`, `ru`).
    pub locale: &'a str,
    /// When the token stops working.
    pub expire_at: DateTime<Utc>,
    /// The acceptance token: for the e-mail only.
    pub token: &'a str,
}

/// The INTEGRATOR_INVITED event: logged by audit like any change (without the
/// token) and turned by it into the invitation e-mail (with the token).
pub fn integrator_invited(
    tenant_id: &str,
    actor: Actor,
    now: DateTime<Utc>,
    mail: &InvitationMail<'_>,
) -> Event {
    let mut e = Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        kind: EventKind::IntegratorInvited as i32,
        occur_time: Some(timestamp(now)),
        actor: Some(actor),
        source: SOURCE.into(),
        expire_time: Some(timestamp(mail.expire_at)),
        invitation_token: mail.token.to_string(),
        ..Event::default()
    };
    for (k, v) in [
        ("change", "integrator_invited"),
        ("invitation_id", mail.invitation_id),
        ("email", mail.email),
        ("display_name", mail.display_name),
        ("partner_id", mail.partner_id),
        ("partner_name", mail.partner_name),
        ("tenant_name", mail.tenant_name),
        ("locale", mail.locale),
    ] {
        e.attributes.insert(k.into(), attr_value(v, 256));
    }
    e
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_event_names_the_change_and_its_ids() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let events = change("t1", "role_assigned", system(), now, &[("role_id", "r1")]);
        let e = &events[0];
        assert_eq!(e.kind, EventKind::IdentityChanged as i32);
        assert_eq!(e.tenant_id, "t1");
        assert_eq!(e.source, "identity");
        assert_eq!(e.attributes["change"], "role_assigned");
        assert_eq!(e.attributes["role_id"], "r1");
        assert_eq!(e.occur_time.unwrap().seconds, 1_700_000_000);
        assert_eq!(
            uuid::Uuid::parse_str(&e.event_id)
                .unwrap()
                .get_version_num(),
            7
        );
    }

    #[test]
    fn long_values_are_summarised_so_an_event_always_fits() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let rights: Vec<String> = (0..600)
            .map(|i| format!("crm/customers.read:{i}-{}", "x".repeat(40)))
            .collect();
        let rights = rights.join("\n");
        let events = change(
            "t1",
            "role_created",
            system(),
            now,
            &[("role_id", "r1"), ("rights", &rights)],
        );
        let v = &events[0].attributes["rights"];
        assert!(v.starts_with("600 items, "), "{v}");
        assert!(v.contains("sha256:"), "{v}");
        assert_eq!(events[0].attributes["role_id"], "r1");
        // Small values stay whole.
        assert_eq!(attr_value("a,b", MAX_ATTR_VALUE), "a,b");
        // Many values just under the per-value limit still fit together.
        let near = "y".repeat(MAX_ATTR_VALUE);
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let attrs: Vec<(&str, &str)> = keys.iter().map(|k| (*k, near.as_str())).collect();
        let e = &change("t1", "tenant_updated", system(), now, &attrs)[0];
        let total: usize = e.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total <= MAX_ATTRS_TOTAL, "{total}");
    }

    #[test]
    fn no_event_outside_a_tenant() {
        assert!(change("", "totp_enabled", system(), Utc::now(), &[]).is_empty());
    }
}
