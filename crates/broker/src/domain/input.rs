//! Checks of request fields: the shared rules of [`keyholder_rights::input`]
//! under the broker's names, with limits kept inside what audit accepts for
//! an event (ids, entity, action ≤ 200 characters; reason ≤ 4000; all
//! attributes together ≤ 16 000 bytes), so that nothing a caller sends can
//! produce an event audit refuses.

use super::DomainError;
use keyholder_rights::input;

/// Longest id, ticket reference, entity or action (audit's id limit).
pub const MAX_ID_LEN: usize = input::MAX_ID_LEN;
/// Longest ReportAction detail.
pub const MAX_DETAIL_LEN: usize = 2000;
/// Longest decision note or revocation reason.
pub const MAX_NOTE_LEN: usize = 1000;
/// Longest reason for asking for access or signing in.
pub const MAX_REASON_LEN: usize = 2000;
/// Shortest such reason: "because" is not one.
pub const MIN_REASON_LEN: usize = 10;

/// A tenant id: required, and a UUID, as identity makes them.
pub fn tenant_id(raw: &str) -> Result<String, DomainError> {
    Ok(input::uuid("tenant_id", raw)?)
}

/// A required id the broker or identity generated as a UUID (an access
/// request, a grant, a user).
pub fn uuid(field: &str, raw: &str) -> Result<String, DomainError> {
    Ok(input::uuid(field, raw)?)
}

/// An optional UUID (a filter): empty is fine.
pub fn optional_uuid(field: &str, raw: &str) -> Result<String, DomainError> {
    Ok(input::optional_uuid(field, raw)?)
}

/// A required short name (entity, action, ticket_ref): trimmed, at most 200
/// characters, one line, no bidi controls.
pub fn required_name(field: &str, raw: &str) -> Result<String, DomainError> {
    Ok(input::name(field, raw)?)
}

/// An optional short name (a filter, a resource id): empty is fine.
pub fn optional_name(field: &str, raw: &str) -> Result<String, DomainError> {
    Ok(input::optional_name(field, raw)?)
}

/// Optional free text of at most `limit` characters, trimmed; line breaks
/// and tabs kept, other control characters and bidi controls refused.
pub fn optional_text(field: &str, raw: &str, limit: usize) -> Result<String, DomainError> {
    Ok(input::text(field, raw, limit)?)
}

/// Why support needs access: free text of 10 to 2000 characters.
pub fn reason(raw: &str) -> Result<String, DomainError> {
    let v = input::text("reason", raw, MAX_REASON_LEN)?;
    if v.chars().count() < MIN_REASON_LEN {
        return Err(DomainError::Invalid(format!(
            "give a reason of at least {MIN_REASON_LEN} characters"
        )));
    }
    Ok(v)
}

/// A client-supplied request id (idempotency key), kept as sent.
pub fn request_id(raw: &str) -> Result<String, DomainError> {
    Ok(input::request_id(raw)?)
}

/// An enum number the contract defines; unknown ones are refused.
pub fn enum_value<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<E, DomainError> {
    Ok(input::enum_value(field, raw)?)
}

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2000;

/// A webhook URL: http or https, with a host, on one line, no spaces.
pub fn url(field: &str, raw: &str) -> Result<String, DomainError> {
    let v = input::name(field, raw).or_else(|e| match e {
        // A URL may be longer than a name.
        keyholder_rights::InputError::TooLong { .. }
            if raw.trim().chars().count() <= MAX_URL_LEN =>
        {
            input::text(field, raw, MAX_URL_LEN)
        }
        e => Err(e),
    })?;
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| {
            DomainError::Invalid(format!("{field} must start with http:// or https://"))
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') || v.chars().any(char::is_whitespace) {
        return Err(DomainError::Invalid(format!(
            "{field} must be an http(s) URL with a host and no spaces or credentials"
        )));
    }
    Ok(v)
}

/// A dotted path into a JSON payload (`issue.fields.customfield_10050.0.value`):
/// id characters only. Empty is fine (the kind's default applies).
pub fn optional_path(field: &str, raw: &str) -> Result<String, DomainError> {
    Ok(input::optional_id(field, raw)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0192f3a0-0000-7000-8000-000000000001";

    #[test]
    fn tenant_ids_are_uuids() {
        assert_eq!(tenant_id(&format!(" {T} ")).ok().as_deref(), Some(T));
        assert_eq!(
            tenant_id("   ").err().map(|e| e.to_string()).as_deref(),
            Some("tenant_id is required")
        );
        let e = tenant_id("not-a-uuid").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("tenant_id must be a UUID, not \"not-a-uuid\"")
        );
        assert!(tenant_id(&"a".repeat(201)).is_err());
    }

    #[test]
    fn names_texts_and_reasons_have_limits() {
        assert_eq!(
            required_name("entity", " crm.deal ").ok().as_deref(),
            Some("crm.deal")
        );
        assert!(required_name("entity", "").is_err());
        assert!(required_name("entity", &"é".repeat(201)).is_err());
        assert!(required_name("action", "re\nad").is_err());
        assert_eq!(optional_name("resource_id", " ").ok().as_deref(), Some(""));
        assert!(optional_text("detail", &"x".repeat(2001), MAX_DETAIL_LEN).is_err());
        assert!(optional_text("detail", &"x".repeat(2000), MAX_DETAIL_LEN).is_ok());
        assert!(reason("short").is_err());
        assert!(reason("ticket 42\0 needs a look").is_err());
        assert!(reason(&"x".repeat(2001)).is_err());
        assert_eq!(
            reason(" ticket 42\r\nneeds a look ").ok().as_deref(),
            Some("ticket 42\nneeds a look")
        );
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        assert_eq!(
            url("url", " https://hooks.example.com/kh ").ok().as_deref(),
            Some("https://hooks.example.com/kh")
        );
        assert!(url("url", "http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https://a b",
            "https://u:p@h/",
            "javascript:alert(1)",
            "",
        ] {
            assert!(url("url", bad).is_err(), "{bad}");
        }
        assert!(url("url", &format!("https://h/{}", "a".repeat(1990))).is_ok());
        assert!(url("url", &format!("https://h/{}", "a".repeat(2000))).is_err());
    }
}
