use super::*;
use crate::input::{InputError, quote, single_line as strip};
use proptest::prelude::*;

fn msg<T: std::fmt::Debug>(r: Result<T, InputError>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn emails_refuse_nul_and_friends() {
    assert_eq!(
        email("email", " Ann@Example.COM ").ok().as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(
        msg(email("email", "a\0b@v.example")),
        "email must not contain control characters"
    );
    assert!(email("email", "a\u{202E}b@v.example").is_err());
    for bad in [
        "ann",
        "@example.com",
        "ann@localhost",
        "a b@example.com",
        "a@b@c.example",
        "<a@b.example>",
        "a,b@c.example",
        "a@ex_ample.com",
    ] {
        assert!(email("email", bad).is_err(), "{bad}");
    }
    assert_eq!(
        msg(email("email", "nope")),
        "email \"nope\" is not a valid e-mail address"
    );
    assert_eq!(email_domain("ann@partner.example"), "partner.example");
}

#[test]
fn names_refuse_control_and_bidi() {
    assert_eq!(name("name", "  Ann  ").ok().as_deref(), Some("Ann"));
    assert_eq!(
        name("name", "Анна Łukasz").ok().as_deref(),
        Some("Анна Łukasz")
    );
    for bad in ["a\0b", "a\u{7}b", "a\rb", "a\nb", "a\u{2028}b"] {
        assert_eq!(
            msg(name("display_name", bad)),
            "display_name must not contain control characters"
        );
    }
    assert_eq!(
        msg(name("name", "hi \u{202E}gnp.exe")),
        "name must not contain bidirectional text controls"
    );
    assert_eq!(msg(name("name", "  ")), "name is required");
    assert_eq!(
        msg(name("name", &"x".repeat(201))),
        "name must be at most 200 characters"
    );
    assert_eq!(optional_name("name", " ").ok().as_deref(), Some(""));
}

#[test]
fn ids_and_uuids() {
    assert_eq!(id("client_id", " svc-1 ").ok().as_deref(), Some("svc-1"));
    assert_eq!(msg(id("client_id", "")), "client_id is required");
    assert!(id("client_id", "a b").is_err());
    assert!(id("client_id", "ä").is_err());
    assert!(id("client_id", &"a".repeat(201)).is_err());
    let u = "0192F3A0-0000-7000-8000-000000000001";
    assert_eq!(
        uuid("tenant_id", u).ok().as_deref(),
        Some("0192f3a0-0000-7000-8000-000000000001")
    );
    assert_eq!(
        msg(uuid("tenant_id", "not-a-uuid")),
        "tenant_id must be a UUID, not \"not-a-uuid\""
    );
    assert_eq!(
        msg(uuid("access_request_id", " ")),
        "access_request_id is required"
    );
    assert_eq!(optional_uuid("grant_id", "").ok().as_deref(), Some(""));
}

#[test]
fn free_text_keeps_lines_but_not_other_controls() {
    assert_eq!(
        text("reason", " a\r\nb\tc ", 100).ok().as_deref(),
        Some("a\nb\tc")
    );
    assert_eq!(
        msg(text("reason", "ticket\0 42 please", 100)),
        "reason must not contain control characters"
    );
    assert!(text("reason", "a\u{2067}b", 100).is_err());
    assert!(text("reason", &"x".repeat(101), 100).is_err());
    assert_eq!(msg(required_text("note", " ", 100)), "note is required");
}

#[test]
fn scopes_must_be_known() {
    assert_eq!(
        scope(" broker.helpdesk ").ok().as_deref(),
        Some("broker.helpdesk")
    );
    let e = msg(scope("root.everything"));
    assert!(
        e.starts_with("scope \"root.everything\" is not known; known scopes are "),
        "{e}"
    );
    assert!(scope("identity.totp_enrollment_only").is_err());
}

#[derive(Debug, PartialEq)]
enum State {
    Pending,
}

impl TryFrom<i32> for State {
    type Error = ();
    fn try_from(v: i32) -> Result<Self, ()> {
        if v == 1 { Ok(State::Pending) } else { Err(()) }
    }
}

#[test]
fn unknown_enum_values_are_refused() {
    assert_eq!(enum_value::<State>("state", 1).ok(), Some(State::Pending));
    assert_eq!(
        msg(enum_value::<State>("state", 42)),
        "state 42 is not a known value"
    );
}

#[test]
fn request_ids_and_durations() {
    assert_eq!(
        request_id("retry-key 1").ok().as_deref(),
        Some("retry-key 1")
    );
    assert_eq!(request_id("").ok().as_deref(), Some(""));
    assert!(request_id("a\nb").is_err());
    assert!(request_id(&"r".repeat(201)).is_err());
    let max = Duration::from_secs(90 * 86_400);
    assert_eq!(
        duration("duration", 3600, 0, max).ok(),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        msg(duration("duration", 91 * 86_400, 0, max)),
        "duration is too long: at most 90 days"
    );
    assert!(duration("duration", i64::MAX, 999_999_999, max).is_err());
    assert!(duration("duration", -1, 0, max).is_err());
    assert!(duration("duration", 1, 1_000_000_000, max).is_err());
}

#[test]
fn refusals_quote_only_a_short_escaped_prefix() {
    let sql = format!("x' OR 1=1; DROP TABLE users; --{}", "A".repeat(5000));
    let e = msg(scope(&sql));
    assert!(
        e.starts_with("scope \"x' OR 1=1; DROP TABLE users; --AAAAAAAAA\"… is not known"),
        "{e}"
    );
    assert!(!e.contains("AAAAAAAAAA"), "{e}");
    assert_eq!(
        msg(email("email", &sql)),
        "email must be at most 254 characters"
    );
    let e = msg(email("email", &sql[..200]));
    assert!(e.len() < 100, "{e}");
    assert_eq!(quote("a\u{202E}b\0"), "\"a\\u{202e}b\\u{0}\"");
    assert_eq!(strip("hi \u{202E}gnp.exe\r\nBcc: x"), "hi gnp.exe  Bcc: x");
}

fn tricky() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        Just('\u{7f}'),
        Just('\u{85}'),
        Just('\u{2028}'),
        (0x202Au32..=0x202E).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        (0x2066u32..=0x2069).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
    ]
}

proptest! {
    #[test]
    fn no_control_or_bidi_char_passes_name_or_email(
        before in "[a-z]{1,10}",
        c in tricky(),
        after in "[a-z]{1,10}",
    ) {
        let n = format!("{before}{c}{after}");
        prop_assert!(name("name", &n).is_err());
        let e = format!("{before}{c}{after}@v.example");
        prop_assert!(email("email", &e).is_err());
        let single = strip(&n);
        prop_assert!(!single.chars().any(|c| super::is_control(c) || super::is_bidi(c)));
    }

    #[test]
    fn quotes_are_short(s in ".{0,200}") {
        prop_assert!(quote(&s).chars().count() <= 2 + 10 * crate::input::QUOTE_LEN + 1);
    }
}
