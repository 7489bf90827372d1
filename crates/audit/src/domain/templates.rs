//! The e-mails, in English and Russian, as plain text and HTML. Every value
//! that came from outside is HTML-escaped in the HTML part.

use super::event::Kind;
use super::notify::Audience;
use chrono::{DateTime, Utc};

/// Language of a tenant's e-mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// English (also the default).
    En,
    /// Russian.
    Ru,
}

/// What a message talks about.
#[derive(Debug, Clone)]
pub struct MailContext {
    /// Language.
    pub locale: Locale,
    /// Event kind.
    pub kind: Kind,
    /// Who reads it.
    pub audience: Audience,
    /// Tenant display name.
    pub tenant_name: String,
    /// Agent display name.
    pub agent_name: String,
    /// Agent e-mail.
    pub agent_email: String,
    /// Reason given.
    pub reason: String,
    /// Ticket.
    pub ticket_ref: String,
    /// The admin who granted (or decided).
    pub granted_by: String,
    /// When access (or the request) ends.
    pub expire_time: Option<DateTime<Utc>>,
    /// Grant id.
    pub grant_id: String,
    /// Request id.
    pub request_id: String,
    /// When it happened.
    pub occur_time: DateTime<Utc>,
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject.
    pub subject: String,
    /// text/plain part.
    pub text: String,
    /// text/html part.
    pub html: String,
}

struct Labels {
    agent: &'static str,
    tenant: &'static str,
    reason: &'static str,
    ticket: &'static str,
    granted_by: &'static str,
    expires: &'static str,
    grant: &'static str,
    request: &'static str,
    time: &'static str,
    none: &'static str,
    revoke: &'static str,
    decide: &'static str,
    signature: &'static str,
}

const EN: Labels = Labels {
    agent: "Support agent",
    tenant: "Account",
    reason: "Reason",
    ticket: "Ticket",
    granted_by: "Access granted by",
    expires: "Access ends",
    grant: "Grant",
    request: "Request",
    time: "Time",
    none: "not given",
    revoke: "To end this access now: Settings → Support access → Revoke (grant {grant}).",
    decide: "To approve or deny it: Settings → Support access → Requests (request {request}).",
    signature: "Keyholder, on behalf of your account's support-access settings.",
};

const RU: Labels = Labels {
    agent: "Специалист техподдержки",
    tenant: "Аккаунт",
    reason: "Причина",
    ticket: "Обращение",
    granted_by: "Доступ предоставил",
    expires: "Доступ действует до",
    grant: "Доступ",
    request: "Запрос",
    time: "Время",
    none: "не указано",
    revoke: "Чтобы закрыть этот доступ сейчас: Настройки → Доступ техподдержки → Отозвать (доступ {grant}).",
    decide: "Чтобы одобрить или отклонить запрос: Настройки → Доступ техподдержки → Запросы (запрос {request}).",
    signature: "Keyholder, по настройкам доступа техподдержки вашего аккаунта.",
};

/// A time as every e-mail shows it.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Renders the message for `ctx`.
pub fn render(ctx: &MailContext) -> Rendered {
    let l = match ctx.locale {
        Locale::En => &EN,
        Locale::Ru => &RU,
    };
    let agent = if ctx.agent_email.is_empty() {
        ctx.agent_name.clone()
    } else {
        format!("{} <{}>", ctx.agent_name, ctx.agent_email)
    };
    let (subject, intro) = headline(ctx);
    let or_none = |s: &str| {
        if s.is_empty() {
            l.none.to_string()
        } else {
            s.to_string()
        }
    };
    let mut rows = vec![
        (l.agent, agent),
        (l.tenant, ctx.tenant_name.clone()),
        (l.reason, or_none(&ctx.reason)),
        (l.ticket, or_none(&ctx.ticket_ref)),
        (l.time, time(ctx.occur_time)),
    ];
    if !ctx.granted_by.is_empty() {
        rows.push((l.granted_by, ctx.granted_by.clone()));
    }
    if let Some(t) = ctx.expire_time {
        rows.push((l.expires, time(t)));
    }
    if !ctx.grant_id.is_empty() {
        rows.push((l.grant, ctx.grant_id.clone()));
    }
    if !ctx.request_id.is_empty() {
        rows.push((l.request, ctx.request_id.clone()));
    }
    let action = match ctx.kind {
        _ if ctx.audience == Audience::Agent => String::new(),
        Kind::RequestCreated | Kind::RequestExpiring => {
            l.decide.replace("{request}", &ctx.request_id)
        }
        Kind::SignIn | Kind::RequestApproved | Kind::GrantExtended => {
            l.revoke.replace("{grant}", &ctx.grant_id)
        }
        _ => String::new(),
    };

    let mut text = format!("{intro}\n\n");
    for (k, v) in &rows {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if !action.is_empty() {
        text.push_str(&format!("\n{action}\n"));
    }
    text.push_str(&format!("\n-- \n{}\n", l.signature));

    let mut html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>{}</p>\n<table>\n",
        escape(&intro)
    );
    for (k, v) in &rows {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    html.push_str("</table>\n");
    if !action.is_empty() {
        html.push_str(&format!("<p><strong>{}</strong></p>\n", escape(&action)));
    }
    html.push_str(&format!(
        "<p style=\"color:#666\">{}</p>\n</body></html>\n",
        escape(l.signature)
    ));
    Rendered {
        subject,
        text,
        html,
    }
}

fn headline(ctx: &MailContext) -> (String, String) {
    let a = &ctx.agent_name;
    let t = &ctx.tenant_name;
    let k = if ctx.ticket_ref.is_empty() {
        String::new()
    } else {
        match ctx.locale {
            Locale::En => format!(" (ticket {})", ctx.ticket_ref),
            Locale::Ru => format!(" (обращение {})", ctx.ticket_ref),
        }
    };
    let to_agent = ctx.audience == Audience::Agent;
    match (ctx.locale, ctx.kind) {
        (Locale::En, Kind::SignIn) => (
            format!("Support sign-in to {t}: {a}{k}"),
            format!("{a} from support has just signed in to your account {t}."),
        ),
        (Locale::Ru, Kind::SignIn) => (
            format!("Вход техподдержки в {t}: {a}{k}"),
            format!("Специалист техподдержки {a} только что вошёл в ваш аккаунт {t}."),
        ),
        (Locale::En, Kind::RequestCreated) => (
            format!("{a} asks for support access to {t}{k}"),
            format!("{a} from support asks for access to your account {t}."),
        ),
        (Locale::Ru, Kind::RequestCreated) => (
            format!("{a} запрашивает доступ техподдержки к {t}{k}"),
            format!("Специалист техподдержки {a} запрашивает доступ к вашему аккаунту {t}."),
        ),
        (Locale::En, Kind::RequestExpiring) => (
            format!("Reminder: support access request for {t} expires soon{k}"),
            format!(
                "The request of {a} for access to {t} is still waiting for a decision and expires soon."
            ),
        ),
        (Locale::Ru, Kind::RequestExpiring) => (
            format!("Напоминание: запрос доступа к {t} скоро истечёт{k}"),
            format!("Запрос {a} на доступ к {t} всё ещё ждёт решения и скоро истечёт."),
        ),
        (Locale::En, Kind::RequestApproved) if to_agent => (
            format!("Your access request for {t} was approved{k}"),
            format!("Your request for access to {t} was approved."),
        ),
        (Locale::Ru, Kind::RequestApproved) if to_agent => (
            format!("Ваш запрос доступа к {t} одобрен{k}"),
            format!("Ваш запрос на доступ к {t} одобрен."),
        ),
        (Locale::En, Kind::RequestApproved) => (
            format!("Support access to {t} approved for {a}{k}"),
            format!("Support access to {t} was approved for {a}."),
        ),
        (Locale::Ru, Kind::RequestApproved) => (
            format!("Доступ техподдержки к {t} одобрен для {a}{k}"),
            format!("Доступ техподдержки к {t} одобрен для специалиста {a}."),
        ),
        (Locale::En, Kind::RequestDenied) if to_agent => (
            format!("Your access request for {t} was denied{k}"),
            format!("Your request for access to {t} was denied."),
        ),
        (Locale::Ru, Kind::RequestDenied) if to_agent => (
            format!("Ваш запрос доступа к {t} отклонён{k}"),
            format!("Ваш запрос на доступ к {t} отклонён."),
        ),
        (Locale::En, Kind::RequestDenied) => (
            format!("Support access to {t} denied for {a}{k}"),
            format!("The request of {a} for access to {t} was denied."),
        ),
        (Locale::Ru, Kind::RequestDenied) => (
            format!("В доступе к {t} отказано: {a}{k}"),
            format!("Запрос специалиста {a} на доступ к {t} отклонён."),
        ),
        (Locale::En, Kind::GrantExpired) => (
            format!("Support access to {t} for {a} has ended{k}"),
            format!("The support access of {a} to {t} has expired."),
        ),
        (Locale::Ru, Kind::GrantExpired) => (
            format!("Доступ техподдержки к {t} для {a} истёк{k}"),
            format!("Срок доступа специалиста {a} к {t} истёк."),
        ),
        (Locale::En, Kind::GrantRevoked) => (
            format!("Support access to {t} for {a} was revoked{k}"),
            format!("The support access of {a} to {t} was revoked; their sessions have ended."),
        ),
        (Locale::Ru, Kind::GrantRevoked) => (
            format!("Доступ техподдержки к {t} для {a} отозван{k}"),
            format!("Доступ специалиста {a} к {t} отозван; его сеансы завершены."),
        ),
        (Locale::En, other) => (
            format!("Support access to {t}: {}{k}", other.as_str()),
            format!("Support access event {} in {t}.", other.as_str()),
        ),
        (Locale::Ru, other) => (
            format!("Доступ техподдержки к {t}: {}{k}", other.as_str()),
            format!("Событие доступа техподдержки {} в {t}.", other.as_str()),
        ),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(locale: Locale) -> MailContext {
        MailContext {
            locale,
            kind: Kind::SignIn,
            audience: Audience::ChiefAdmin,
            tenant_name: "Acme <Ltd>".into(),
            agent_name: "Ann Agent".into(),
            agent_email: "ann@vendor.test".into(),
            reason: "fix import".into(),
            ticket_ref: "T-42".into(),
            granted_by: "Carl Chief".into(),
            expire_time: DateTime::from_timestamp(1_700_086_400, 0),
            grant_id: "g-1".into(),
            request_id: String::new(),
            occur_time: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn sign_in_names_everything_and_escapes_html() {
        let r = render(&ctx(Locale::En));
        assert_eq!(
            r.subject,
            "Support sign-in to Acme <Ltd>: Ann Agent (ticket T-42)"
        );
        for needle in [
            "Ann Agent",
            "Acme <Ltd>",
            "fix import",
            "T-42",
            "Carl Chief",
            "2023-11-15 22:13 UTC",
            "Settings → Support access → Revoke (grant g-1)",
        ] {
            assert!(r.text.contains(needle), "{needle} missing in {}", r.text);
        }
        assert!(r.html.contains("Acme &lt;Ltd&gt;"));
        assert!(!r.html.contains("<Ltd>"));
    }

    #[test]
    fn russian_sign_in() {
        let r = render(&ctx(Locale::Ru));
        assert!(
            r.subject
                .starts_with("Вход техподдержки в Acme <Ltd>: Ann Agent")
        );
        assert!(r.text.contains("Причина: fix import"));
        assert!(r.text.contains("Доступ предоставил: Carl Chief"));
        assert!(
            r.text
                .contains("Настройки → Доступ техподдержки → Отозвать")
        );
    }

    #[test]
    fn agent_gets_its_own_wording_without_revoke_hint() {
        let mut c = ctx(Locale::En);
        c.kind = Kind::RequestDenied;
        c.audience = Audience::Agent;
        let r = render(&c);
        assert!(
            r.subject
                .starts_with("Your access request for Acme <Ltd> was denied")
        );
        assert!(!r.text.contains("Revoke"));
    }
}
