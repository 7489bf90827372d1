//! The invitation e-mail to a would-be integrator, in English and Russian.
//! Rendered from the INTEGRATOR_INVITED event as it arrives, because only
//! then is its acceptance token at hand: the token goes into this e-mail and
//! is never stored with the event.

use super::event::NewEvent;
use super::templates::{Locale, Rendered, escape, time};

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

/// Renders the invitation.
pub fn render(i: &Invitation<'_>) -> Rendered {
    let (inviter, tenant, partner) = (i.inviter, i.tenant_name, i.partner_name);
    let (subject, greeting, intro, steps, token_label, expires_label, two_fa, ignore, signature) =
        match i.locale {
            Locale::En => (
                format!("{inviter} invites you to {tenant} as an integrator"),
                format!("Hello {},", i.display_name),
                format!(
                    "{inviter} invites you to work in the Keyholder account {tenant} as an integrator of {partner}."
                ),
                "To accept, use this one-time token with AcceptInvitation and choose your own password (at least 12 characters). Nobody else knows or chooses it.",
                "Acceptance token",
                "Valid until",
                "Turn on two-factor authentication within 10 days of this invitation, or your access stops until you do.",
                "If you did not expect this invitation, ignore this e-mail: without the token nothing happens.",
                "Keyholder, on behalf of the account that invited you.",
            ),
            Locale::Ru => (
                format!("{inviter} приглашает вас в {tenant} в качестве интегратора"),
                format!("Здравствуйте, {}!", i.display_name),
                format!(
                    "{inviter} приглашает вас работать в аккаунте Keyholder {tenant} в качестве интегратора компании {partner}."
                ),
                "Чтобы принять приглашение, используйте этот одноразовый код в AcceptInvitation и задайте свой пароль (не короче 12 символов). Никто другой его не знает и не выбирает.",
                "Код приглашения",
                "Действует до",
                "Включите двухфакторную аутентификацию в течение 10 дней после приглашения, иначе доступ будет закрыт, пока вы её не включите.",
                "Если вы не ждали этого приглашения, просто проигнорируйте письмо: без кода ничего не произойдёт.",
                "Keyholder, по поручению пригласившего вас аккаунта.",
            ),
        };
    let rows = [(token_label, i.token), (expires_label, i.expires.as_str())];
    let mut text = format!("{greeting}\n\n{intro}\n\n{steps}\n\n");
    for (k, v) in rows {
        text.push_str(&format!("{k}: {v}\n"));
    }
    text.push_str(&format!("\n{two_fa}\n\n{ignore}\n\n-- \n{signature}\n"));

    let mut html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>{}</p>\n<p>{}</p>\n<p>{}</p>\n<table>\n",
        escape(&greeting),
        escape(&intro),
        escape(steps)
    );
    for (k, v) in rows {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td><code>{}</code></td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    html.push_str(&format!(
        "</table>\n<p>{}</p>\n<p>{}</p>\n<p style=\"color:#666\">{}</p>\n</body></html>\n",
        escape(two_fa),
        escape(ignore),
        escape(signature)
    ));
    Rendered {
        subject,
        text,
        html,
    }
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
        let r = render(&i);
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
        let r = render(&from_event(&e, "tok-456").unwrap());
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
