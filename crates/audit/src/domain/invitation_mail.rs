//! The invitation e-mail to a would-be integrator, in English and Russian.
//! Rendered from the INTEGRATOR_INVITED event as it arrives, because only
//! then is its acceptance token at hand: the token goes into this e-mail and
//! is never stored with the event.

use super::event::NewEvent;
use super::templates::{self, Locale, Rendered, TemplateError, time};
use serde::Serialize;

/// Who gets the invitation and what it says, read from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation<'a> {
    /// The invitee's address.
    pub recipient: &'a str,
    /// The invitee's name.
    pub display_name: &'a str,
    /// Who invited.
    pub inviter: &'a str,
    /// The tenant's name.
    pub tenant_name: &'a str,
    /// The partner company's name.
    pub partner_name: &'a str,
    /// Language: the tenant's.
    pub locale: Locale,
    /// When the token stops working.
    pub expires: String,
    /// The one-time acceptance token.
    pub token: &'a str,
}

/// The invitation an INTEGRATOR_INVITED event describes, or why it cannot be
/// mailed (no recipient).
pub fn from_event<'a>(e: &'a NewEvent, token: &'a str) -> Result<Invitation<'a>, &'static str> {
    let attr = |k: &str| e.attributes.get(k).map(String::as_str).unwrap_or("");
    let recipient = attr("email");
    if recipient.is_empty() {
        return Err("the invitation event names no e-mail address");
    }
    Ok(Invitation {
        recipient,
        display_name: attr("display_name"),
        inviter: e.actor.as_ref().map(|a| a.name.as_str()).unwrap_or(""),
        tenant_name: if attr("tenant_name").is_empty() {
            &e.tenant_id
        } else {
            attr("tenant_name")
        },
        partner_name: attr("partner_name"),
        locale: if attr("locale") == "ru" {
            Locale::Ru
        } else {
            Locale::En
        },
        expires: e.expire_time.map(time).unwrap_or_default(),
        token,
    })
}

/// Renders the invitation from its template.
pub fn render(i: &Invitation<'_>) -> Result<Rendered, TemplateError> {
    #[derive(Serialize)]
    struct Facts<'a> {
        display_name: &'a str,
        inviter: &'a str,
        tenant: &'a str,
        partner: &'a str,
        token: &'a str,
        valid_until: &'a str,
    }
    templates::render(
        "integrator_invited",
        i.locale,
        &Facts {
            display_name: i.display_name,
            inviter: i.inviter,
            tenant: i.tenant_name,
            partner: i.partner_name,
            token: i.token,
            valid_until: &i.expires,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::event::{Actor, Kind, tests::sample};
    use chrono::DateTime;

    fn event(locale: &str) -> NewEvent {
        let mut e = sample("inv-1");
        e.kind = Kind::IntegratorInvited;
        e.agent = None;
        e.actor = Some(Actor {
            id: "u1".into(),
            kind: "employee".into(),
            name: "Carl <Chief>".into(),
            email: "carl@acme.example".into(),
        });
        e.expire_time = DateTime::from_timestamp(1_700_604_800, 0);
        e.attributes = [
            ("email", "ivan@integra.example"),
            ("display_name", "Ivan"),
            ("tenant_name", "Acme"),
            ("partner_name", "Integra"),
            ("locale", locale),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        e
    }

    #[test]
    fn english_invitation_carries_the_token_and_escapes_html() {
        let e = event("en");
        let i = from_event(&e, "tok-123").unwrap();
        assert_eq!(i.recipient, "ivan@integra.example");
        let r = render(&i).unwrap();
        assert_eq!(
            r.subject,
            "Carl <Chief> invites you to Acme as an integrator"
        );
        for needle in [
            "Acceptance token: tok-123",
            "Valid until: 2023-11-21 22:13 UTC",
            "integrator of Integra",
            "within 10 days",
        ] {
            assert!(r.text.contains(needle), "{needle} missing in {}", r.text);
        }
        assert!(r.html.contains("<code>tok-123</code>"));
        assert!(r.html.contains("Carl &lt;Chief&gt;"));
        assert!(!r.html.contains("<Chief>"));
    }

    #[test]
    fn russian_invitation() {
        let e = event("ru");
        let r = render(&from_event(&e, "tok-456").unwrap()).unwrap();
        assert!(r.subject.starts_with("Carl <Chief> приглашает вас в Acme"));
        assert!(r.text.contains("Код приглашения: tok-456"));
        assert!(r.text.contains("Действует до: 2023-11-21 22:13 UTC"));
        assert!(r.text.contains("интегратора компании Integra"));
    }

    #[test]
    fn no_recipient_no_mail() {
        let mut e = event("en");
        e.attributes.remove("email");
        assert!(from_event(&e, "t").is_err());
    }
}
