//! Every kind of mail, in both languages, states its own facts with the
//! right values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::domain::event::Actor;
use crate::domain::notify::audiences;
use crate::domain::samples::event;

fn person(id: &str, kind: &str, name: &str, email: &str) -> Actor {
    Actor {
        id: id.into(),
        kind: kind.into(),
        name: name.into(),
        email: email.into(),
    }
}

fn render_for(kind: Kind, audience: Audience, locale: Locale) -> Rendered {
    render_event(&event(kind), audience, locale, "Acme <Ltd>")
        .expect("a mailed kind")
        .unwrap_or_else(|e| panic!("{kind:?} {audience:?} {locale:?}: {e}"))
}

/// Asserts every line is in the text part, and every value (after the
/// label) in the HTML part, escaped.
fn states(r: &Rendered, lines: &[&str]) {
    for line in lines {
        assert!(
            r.text.lines().any(|l| l == *line),
            "missing line {line:?} in:\n{}",
            r.text
        );
        let value = line.split_once(": ").map_or(*line, |(_, v)| v);
        let escaped = value
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            r.html.contains(&escaped),
            "missing {escaped:?} in:\n{}",
            r.html
        );
    }
}

const T0: &str = "2023-11-14 22:13 UTC";
const T0_24H: &str = "2023-11-15 22:13 UTC";
const T0_7D: &str = "2023-11-21 22:13 UTC";
const T0_10D: &str = "2023-11-24 22:13 UTC";
const T0_1H: &str = "2023-11-14 23:13 UTC";

#[test]
fn every_kind_renders_for_every_audience_in_both_languages() {
    for kind in Kind::ALL {
        if template_of(kind).is_none() {
            assert!(render_event(&event(kind), Audience::Admins, Locale::En, "x").is_none());
            continue;
        }
        for &audience in audiences(kind) {
            for locale in Locale::ALL {
                let r = render_for(kind, audience, locale);
                assert!(!r.subject.is_empty(), "{kind:?}");
                assert!(!r.subject.contains('\n'), "{kind:?}: {}", r.subject);
                assert!(r.text.ends_with('\n'), "{kind:?}");
                assert!(
                    r.html.starts_with("<!DOCTYPE html>"),
                    "{kind:?}: {}",
                    r.html
                );
                assert!(r.html.contains("Acme &lt;Ltd&gt;"), "{kind:?}: {}", r.html);
                assert!(!r.html.contains("<Ltd>"), "{kind:?}: {}", r.html);
                assert!(r.text.contains("Acme <Ltd>"), "{kind:?}: {}", r.text);
                assert!(r.text.contains("\n-- \nKeyholder"), "{kind:?}: {}", r.text);
            }
        }
    }
}

#[test]
fn request_mail_shows_the_access_asked_for_and_the_decision_deadline() {
    let r = render_for(Kind::RequestCreated, Audience::Admins, Locale::En);
    assert_eq!(
        r.subject,
        "Ann Agent asks for support access to Acme <Ltd> (ticket T-42)"
    );
    states(
        &r,
        &[
            "Support agent: Ann Agent <ann@vendor.example>",
            "Reason: fix import",
            "Ticket: T-42",
            "Access asked for: 7 days",
            "Scope asked for: read-only; roles: crm_viewer",
            &format!("Asked-for access would end: {T0_7D} (if approved at once)"),
            &format!("Decide by: {T0_24H}"),
            &format!("Asked at: {T0}"),
            "Request: r-1",
        ],
    );
    // The deadline is never presented as the end of the access.
    assert!(!r.text.contains("Access ends"), "{}", r.text);
    let r = render_for(Kind::RequestCreated, Audience::Admins, Locale::Ru);
    assert_eq!(
        r.subject,
        "Ann Agent запрашивает доступ техподдержки к Acme <Ltd> (обращение T-42)"
    );
    states(
        &r,
        &[
            "Запрошенный срок: 7 дней",
            "Запрошенный объём: только чтение; роли: crm_viewer",
            &format!("Запрошенный доступ закончился бы: {T0_7D} (при одобрении сейчас)"),
            &format!("Решить до: {T0_24H}"),
        ],
    );
    assert!(!r.text.contains("Доступ действует до"), "{}", r.text);
}

#[test]
fn reminder_and_lapse_name_the_deadline() {
    let r = render_for(Kind::RequestExpiring, Audience::Admins, Locale::En);
    assert_eq!(
        r.subject,
        format!("Reminder: decide by {T0_24H} on support access to Acme <Ltd> (ticket T-42)")
    );
    states(
        &r,
        &["Access asked for: 7 days", &format!("Decide by: {T0_24H}")],
    );
    let r = render_for(Kind::RequestExpired, Audience::Agent, Locale::En);
    assert_eq!(
        r.subject,
        "Your access request for Acme <Ltd> lapsed undecided (ticket T-42)"
    );
    states(
        &r,
        &[
            "Access asked for: 7 days",
            &format!("Lapsed at: {T0}"),
            "Request: r-1",
        ],
    );
    let r = render_for(Kind::RequestExpired, Audience::Agent, Locale::Ru);
    assert_eq!(
        r.subject,
        "Ваш запрос доступа к Acme <Ltd> истёк без решения (обращение T-42)"
    );
    states(&r, &["Запрошенный срок: 7 дней", &format!("Истёк: {T0}")]);
}

#[test]
fn decisions_show_the_access_granted_and_who_decided() {
    let r = render_for(Kind::RequestApproved, Audience::Admins, Locale::En);
    assert_eq!(
        r.subject,
        "Support access to Acme <Ltd> approved for Ann Agent (ticket T-42)"
    );
    states(
        &r,
        &[
            &format!("Access from: {T0}"),
            &format!("Access until: {T0_7D}"),
            "Scope granted: read-only; roles: crm_viewer",
            "Approved by: Carl <Chief>",
            "Note: go ahead",
            "Grant: g-1",
        ],
    );
    assert!(r.text.contains("Revoke (grant g-1)"), "{}", r.text);
    let r = render_for(Kind::RequestApproved, Audience::Agent, Locale::En);
    assert_eq!(
        r.subject,
        "Your access request for Acme <Ltd> was approved (ticket T-42)"
    );
    assert!(!r.text.contains("Revoke"), "{}", r.text);
    let r = render_for(Kind::RequestApproved, Audience::Agent, Locale::Ru);
    states(
        &r,
        &[
            &format!("Доступ с: {T0}"),
            &format!("Доступ до: {T0_7D}"),
            "Одобрил(а): Carl <Chief>",
        ],
    );
    let r = render_for(Kind::RequestDenied, Audience::Admins, Locale::En);
    states(
        &r,
        &[
            "Access asked for: 7 days",
            "Denied by: Carl <Chief>",
            &format!("Denied at: {T0}"),
            "Note: not now",
        ],
    );
    let r = render_for(Kind::RequestDenied, Audience::Agent, Locale::Ru);
    assert_eq!(
        r.subject,
        "Ваш запрос доступа к Acme <Ltd> отклонён (обращение T-42)"
    );
    states(&r, &["Отклонил(а): Carl <Chief>", "Комментарий: not now"]);
}

#[test]
fn extension_states_the_old_and_the_new_end() {
    let r = render_for(Kind::GrantExtended, Audience::Admins, Locale::En);
    assert_eq!(
        r.subject,
        format!("Support access to Acme <Ltd> for Ann Agent extended until {T0_10D} (ticket T-42)")
    );
    states(
        &r,
        &[
            &format!("Previous end: {T0_7D}"),
            &format!("New end: {T0_10D}"),
            "Extended by: Carl <Chief>",
        ],
    );
    let r = render_for(Kind::GrantExtended, Audience::Agent, Locale::Ru);
    assert_eq!(
        r.subject,
        format!("Ваш доступ к Acme <Ltd> продлён до {T0_10D} (обращение T-42)")
    );
    states(
        &r,
        &[
            &format!("Прежний срок: {T0_7D}"),
            &format!("Новый срок: {T0_10D}"),
        ],
    );
}

#[test]
fn ending_soon_says_when_and_how_long_is_left() {
    let r = render_for(Kind::GrantEnding, Audience::Agent, Locale::En);
    assert_eq!(
        r.subject,
        format!("Your access to Acme <Ltd> ends at {T0_1H} (ticket T-42)")
    );
    states(
        &r,
        &[
            &format!("Access ends: {T0_1H}"),
            "Time left: 1 hour",
            "Access granted by: Carl <Chief>",
        ],
    );
    let r = render_for(Kind::GrantEnding, Audience::GrantedBy, Locale::Ru);
    assert_eq!(
        r.subject,
        format!(
            "Доступ техподдержки к Acme <Ltd> для Ann Agent закончится {T0_1H} (обращение T-42)"
        )
    );
    states(
        &r,
        &[&format!("Доступ действует до: {T0_1H}"), "Осталось: 1 час"],
    );
    assert!(r.text.contains("Продлить (доступ g-1)"), "{}", r.text);
}

#[test]
fn endings_say_which_and_when() {
    let r = render_for(Kind::GrantExpired, Audience::Admins, Locale::En);
    states(&r, &["Ended: expired", &format!("Ended at: {T0}")]);
    let r = render_for(Kind::GrantRevoked, Audience::Admins, Locale::En);
    assert_eq!(
        r.subject,
        "Support access to Acme <Ltd> for Ann Agent was revoked (ticket T-42)"
    );
    states(
        &r,
        &[
            "Ended: revoked",
            "Revoked by: Carl <Chief>",
            "Why: work is done",
            &format!("Ended at: {T0}"),
            &format!("Was to end: {T0_7D}"),
        ],
    );
    let mut closed = event(Kind::GrantRevoked);
    closed
        .attributes
        .insert("end_cause".into(), "ticket-closed".into());
    closed.actor = Some(person("sa", "service_account", "helpdesk", ""));
    for (locale, subject, lines) in [
        (
            Locale::En,
            "Support access to Acme <Ltd> for Ann Agent ended: ticket T-42 closed",
            ["Ended: ticket closed", "Closed by: helpdesk"],
        ),
        (
            Locale::Ru,
            "Доступ техподдержки к Acme <Ltd> для Ann Agent закрыт: обращение T-42 закрыто",
            ["Завершение: обращение закрыто", "Закрыл(а): helpdesk"],
        ),
    ] {
        let r = render_event(&closed, Audience::Admins, locale, "Acme <Ltd>")
            .unwrap()
            .unwrap();
        assert_eq!(r.subject, subject);
        states(&r, &lines);
        assert!(!r.text.contains("work is done"), "{}", r.text);
    }
}

#[test]
fn sign_in_names_the_grant_behind_it() {
    let r = render_for(Kind::SignIn, Audience::ChiefAdmin, Locale::En);
    assert_eq!(
        r.subject,
        "Support sign-in to Acme <Ltd>: Ann Agent (ticket T-42)"
    );
    states(
        &r,
        &[
            "Reason for signing in: look at the import log",
            &format!("Signed in at: {T0}"),
            "Access granted by: Carl <Chief>",
            &format!("Access ends: {T0_7D}"),
        ],
    );
    let r = render_for(Kind::SignIn, Audience::ChiefAdmin, Locale::Ru);
    states(
        &r,
        &[
            "Причина входа: look at the import log",
            &format!("Доступ действует до: {T0_7D}"),
        ],
    );
}

#[test]
fn subjects_lose_hidden_characters_from_names() {
    let mut e = event(Kind::RequestCreated);
    if let Some(a) = e.agent.as_mut() {
        a.name = "Ann\u{202E}gnp.exe\r\nBcc: x".into();
    }
    let r = render_event(&e, Audience::Admins, Locale::En, "Acme")
        .unwrap()
        .unwrap();
    assert_eq!(
        r.subject,
        "Anngnp.exe  Bcc: x asks for support access to Acme (ticket T-42)"
    );
}

#[test]
fn the_chief_admins_sign_in_mail_carries_the_receipt_in_both_languages() {
    let receipt = Receipt {
        sequence: 7,
        hash: "ab".repeat(32),
    };
    let hash = "ab".repeat(32);
    let e = event(Kind::SignIn);
    for (locale, line, note) in [
        (
            Locale::En,
            format!("Audit receipt: event 7, hash {hash}"),
            "Keep this receipt",
        ),
        (
            Locale::Ru,
            format!("Квитанция журнала аудита: событие 7, хеш {hash}"),
            "Сохраните эту квитанцию",
        ),
    ] {
        let r = render_with_receipt(&e, Audience::ChiefAdmin, locale, "Acme", Some(&receipt))
            .unwrap()
            .unwrap();
        states(&r, &[line.as_str()]);
        assert!(r.text.contains(note), "{}", r.text);
        assert!(r.html.contains(&format!(
            "<code>{}</code>",
            line.split_once(": ").unwrap().1
        )));
        // Nobody else's mail, and no other kind, carries one.
        for (kind, audience) in [
            (Kind::SignIn, Audience::Admins),
            (Kind::RequestApproved, Audience::ChiefAdmin),
        ] {
            if let Some(r) =
                render_with_receipt(&event(kind), audience, locale, "Acme", Some(&receipt))
            {
                let r = r.unwrap();
                assert!(!r.text.contains(&hash), "{kind:?} {audience:?}");
            }
        }
        // Without a receipt the sign-in mail reads as before.
        let plain = render_event(&e, Audience::ChiefAdmin, locale, "Acme")
            .unwrap()
            .unwrap();
        assert!(!plain.text.contains(note));
    }
}
