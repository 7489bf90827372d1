//! The e-mails, rendered with minijinja from one template per kind of mail and
//! language (`crates/audit/templates/mail/<locale>/<kind>.j2`). The same
//! template renders the plain-text part and the HTML part; only the HTML part
//! is escaped (the layout switches auto-escaping on for it), and the subject
//! is the template's `subject` block, made a single line.
//!
//! Why minijinja: templates stay readable text a translator can edit, HTML
//! escaping is the engine's job rather than each call site's, undefined names
//! are errors (strict mode) instead of silently empty, and it depends on
//! little beyond serde.

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde::Serialize;
use std::sync::OnceLock;

/// Language of a tenant's e-mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// English (also the default).
    En,
    /// Russian.
    Ru,
}

impl Locale {
    /// Both languages.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Ru];

    /// The templates' folder name, e.g. `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ru => "ru",
        }
    }
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject, one line.
    pub subject: String,
    /// text/plain part.
    pub text: String,
    /// text/html part.
    pub html: String,
}

/// A template that is missing or does not render: a bug in the templates,
/// caught by the tests that render every kind.
#[derive(Debug, Clone, thiserror::Error)]
#[error("mail template {template}: {detail}")]
pub struct TemplateError {
    /// The template's name.
    pub template: String,
    /// What went wrong.
    pub detail: String,
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

/// Every template, compiled into the binary so a deployment cannot lose one.
const TEMPLATES: &[(&str, &str)] = templates![
    "mail/layout.j2",
    "mail/parts.j2",
    "mail/en/layout.j2",
    "mail/en/sign_in.j2",
    "mail/en/request_created.j2",
    "mail/en/request_expiring.j2",
    "mail/en/request_expired.j2",
    "mail/en/request_approved.j2",
    "mail/en/request_denied.j2",
    "mail/en/grant_extended.j2",
    "mail/en/grant_ending.j2",
    "mail/en/grant_expired.j2",
    "mail/en/grant_revoked.j2",
    "mail/en/integrator_invited.j2",
    "mail/ru/layout.j2",
    "mail/ru/sign_in.j2",
    "mail/ru/request_created.j2",
    "mail/ru/request_expiring.j2",
    "mail/ru/request_expired.j2",
    "mail/ru/request_approved.j2",
    "mail/ru/request_denied.j2",
    "mail/ru/grant_extended.j2",
    "mail/ru/grant_ending.j2",
    "mail/ru/grant_expired.j2",
    "mail/ru/grant_revoked.j2",
    "mail/ru/integrator_invited.j2",
];

fn environment() -> Result<&'static Environment<'static>, TemplateError> {
    static ENV: OnceLock<Result<Environment<'static>, TemplateError>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Escaping is switched on by the layout for the HTML part only.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|e| TemplateError {
                template: (*name).to_string(),
                detail: format!("{e:#}"),
            })?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Renders template `kind` (e.g. `request_created`) in `locale` with `facts`.
pub fn render(
    kind: &str,
    locale: Locale,
    facts: &impl Serialize,
) -> Result<Rendered, TemplateError> {
    let name = format!("mail/{}/{kind}.j2", locale.as_str());
    let fail = |e: minijinja::Error| TemplateError {
        template: name.clone(),
        detail: format!("{e:#}"),
    };
    let env = environment()?;
    let template = env.get_template(&name).map_err(fail)?;
    let facts = Value::from_serialize(facts);
    let mut text = template
        .render_captured(context! { html => false, ..facts.clone() })
        .map_err(fail)?;
    let subject = text
        .with_state_mut(|s| s.render_block("subject"))
        .map_err(fail)?;
    let html = template
        .render(context! { html => true, ..facts })
        .map_err(fail)?;
    Ok(Rendered {
        subject: keyholder_rights::input::single_line(subject.trim()),
        text: text.into_output(),
        html,
    })
}

/// A time as every e-mail shows it.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A length of time in words, its two largest units (`7 days`, `1 hour 30
/// minutes`, `2 дня 3 часа`), rounded down to the minute.
pub fn duration(d: chrono::Duration, locale: Locale) -> String {
    let total = d.num_minutes().max(0);
    let (days, hours, minutes) = (total / 1440, total / 60 % 24, total % 60);
    let units = [
        (days, Unit::Day),
        (hours, Unit::Hour),
        (minutes, Unit::Minute),
    ];
    let parts: Vec<String> = units
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n} {}", u.word(*n, locale)))
        .collect();
    if parts.is_empty() {
        format!("0 {}", Unit::Minute.word(0, locale))
    } else {
        parts.join(" ")
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Day,
    Hour,
    Minute,
}

impl Unit {
    fn word(self, n: i64, locale: Locale) -> &'static str {
        match locale {
            Locale::En => match (self, n == 1) {
                (Unit::Day, true) => "day",
                (Unit::Day, false) => "days",
                (Unit::Hour, true) => "hour",
                (Unit::Hour, false) => "hours",
                (Unit::Minute, true) => "minute",
                (Unit::Minute, false) => "minutes",
            },
            // Russian has three forms: 1 (21, 31 …), 2–4 (22–24 …), the rest.
            Locale::Ru => {
                let form = match (n % 10, n % 100) {
                    (1, r) if r != 11 => 0,
                    (2..=4, r) if !(12..=14).contains(&r) => 1,
                    _ => 2,
                };
                let forms = match self {
                    Unit::Day => ["день", "дня", "дней"],
                    Unit::Hour => ["час", "часа", "часов"],
                    Unit::Minute => ["минута", "минуты", "минут"],
                };
                forms[form]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn durations_read_naturally_in_both_languages() {
        let en = |d| duration(d, Locale::En);
        let ru = |d| duration(d, Locale::Ru);
        assert_eq!(en(Duration::days(7)), "7 days");
        assert_eq!(en(Duration::hours(1)), "1 hour");
        assert_eq!(en(Duration::minutes(90)), "1 hour 30 minutes");
        assert_eq!(en(Duration::hours(36)), "1 day 12 hours");
        assert_eq!(en(Duration::days(2) + Duration::minutes(5)), "2 days");
        assert_eq!(en(Duration::seconds(30)), "0 minutes");
        assert_eq!(ru(Duration::days(7)), "7 дней");
        assert_eq!(ru(Duration::days(1)), "1 день");
        assert_eq!(ru(Duration::days(3)), "3 дня");
        assert_eq!(ru(Duration::days(21)), "21 день");
        assert_eq!(ru(Duration::days(11)), "11 дней");
        assert_eq!(ru(Duration::hours(1)), "1 час");
        assert_eq!(
            ru(Duration::hours(2) + Duration::minutes(1)),
            "2 часа 1 минута"
        );
        assert_eq!(ru(Duration::minutes(14)), "14 минут");
    }

    #[test]
    fn every_template_compiles() {
        assert!(environment().is_ok(), "{:?}", environment().err());
    }

    #[test]
    fn html_part_is_escaped_text_part_is_not() {
        #[derive(Serialize)]
        struct Inv<'a> {
            inviter: &'a str,
            tenant: &'a str,
            display_name: &'a str,
            partner: &'a str,
            token: &'a str,
            valid_until: &'a str,
        }
        let r = render(
            "integrator_invited",
            Locale::En,
            &Inv {
                inviter: "Carl <b>&</b>",
                tenant: "Acme \"Ltd\"",
                display_name: "Ivan",
                partner: "Integra",
                token: "tok",
                valid_until: "2023-11-21 22:13 UTC",
            },
        );
        let r = r.unwrap_or_else(|e| Rendered {
            subject: e.to_string(),
            text: String::new(),
            html: String::new(),
        });
        assert_eq!(
            r.subject,
            "Carl <b>&</b> invites you to Acme \"Ltd\" as an integrator"
        );
        assert!(r.text.contains("Carl <b>&</b> invites you"), "{}", r.text);
        assert!(
            r.html
                .contains("Carl &lt;b&gt;&amp;&lt;&#x2f;b&gt; invites you"),
            "{}",
            r.html
        );
        assert!(r.html.contains("Acme &quot;Ltd&quot;"), "{}", r.html);
        assert!(!r.html.contains("<b>"), "{}", r.html);
    }
}
