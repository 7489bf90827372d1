//! Checks of free-form request fields, with limits kept inside what audit
//! accepts for an event (ids, entity, action ≤ 200 characters; reason ≤ 4000;
//! all attributes together ≤ 16 000 bytes), so that nothing a caller sends can
//! produce an event audit refuses.

use super::DomainError;

/// Longest id, ticket reference, entity or action (audit's id limit).
pub const MAX_ID_LEN: usize = 200;
/// Longest ReportAction detail.
pub const MAX_DETAIL_LEN: usize = 2000;
/// Longest decision note or revocation reason.
pub const MAX_NOTE_LEN: usize = 1000;

fn too_long(field: &str, limit: usize) -> DomainError {
    DomainError::Invalid(format!("{field} must be at most {limit} characters"))
}

fn no_control(field: &str, v: &str) -> Result<(), DomainError> {
    if v.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// A tenant id: required, at most 200 characters of letters, digits and
/// `-_.:`. Returns it trimmed.
pub fn tenant_id(raw: &str) -> Result<String, DomainError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(DomainError::Invalid("tenant_id is required".into()));
    }
    if v.chars().count() > MAX_ID_LEN {
        return Err(too_long("tenant_id", MAX_ID_LEN));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(DomainError::Invalid(
            "tenant_id may contain only letters, digits and - _ . :".into(),
        ));
    }
    Ok(v.to_string())
}

/// A required short name (entity, action, ticket_ref): trimmed, at most 200
/// characters, no control characters.
pub fn required_name(field: &str, raw: &str) -> Result<String, DomainError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(DomainError::Invalid(format!("{field} is required")));
    }
    if v.chars().count() > MAX_ID_LEN {
        return Err(too_long(field, MAX_ID_LEN));
    }
    no_control(field, v)?;
    Ok(v.to_string())
}

/// An optional short name (a filter, a resource id): empty is fine.
pub fn optional_name(field: &str, raw: &str) -> Result<String, DomainError> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    required_name(field, raw)
}

/// Optional free text of at most `limit` characters, trimmed.
pub fn optional_text(field: &str, raw: &str, limit: usize) -> Result<String, DomainError> {
    let v = raw.trim();
    if v.chars().count() > limit {
        return Err(too_long(field, limit));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_trimmed_bounded_and_plain() {
        assert_eq!(tenant_id(" t-1 ").ok().as_deref(), Some("t-1"));
        assert!(tenant_id("   ").is_err());
        assert!(tenant_id(&"a".repeat(200)).is_ok());
        let long = tenant_id(&"a".repeat(201)).err().map(|e| e.to_string());
        assert!(long.unwrap_or_default().contains("at most 200"));
        assert!(tenant_id("a b").is_err());
        assert!(tenant_id("ä").is_err());
    }

    #[test]
    fn names_and_texts_have_limits() {
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
    }
}
