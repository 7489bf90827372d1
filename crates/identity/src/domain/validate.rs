//! Input checks shared by the handlers.

use crate::error::{Error, Result};

/// A trimmed, lowercased e-mail address of plausible shape.
pub fn email(raw: &str) -> Result<String> {
    let e = raw.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c == ':')
                && !domain.contains('@')
        });
    if ok {
        Ok(e)
    } else {
        Err(Error::invalid(format!(
            "\"{raw}\" is not a valid e-mail address"
        )))
    }
}

/// The domain part of a valid e-mail.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// A lowercase e-mail domain like `partner.example`.
pub fn domain(raw: &str) -> Result<String> {
    let d = raw.trim().trim_start_matches('@').to_lowercase();
    let ok = d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(Error::invalid(format!(
            "\"{raw}\" is not a valid e-mail domain"
        )))
    }
}

/// A non-empty display name or title of at most 200 characters.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let n = raw.trim();
    if n.is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    if n.chars().count() > 200 {
        return Err(Error::invalid(format!(
            "{field} must be at most 200 characters"
        )));
    }
    Ok(n.to_string())
}

/// An app code: lowercase letters, digits, `-`, `_`.
pub fn app_code(raw: &str) -> Result<String> {
    let c = raw.trim();
    let ok = !c.is_empty()
        && c.len() <= 64
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
    if ok {
        Ok(c.to_string())
    } else {
        Err(Error::invalid(format!(
            "app code \"{raw}\" is not valid: use lowercase letters, digits, - and _"
        )))
    }
}

/// A service-account scope like `broker.check_access`.
pub fn scope(raw: &str) -> Result<String> {
    let s = raw.trim();
    let ok = s.contains('.')
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(format!(
            "scope \"{raw}\" is not valid: use dot-separated lowercase names like broker.check_access"
        )))
    }
}

/// A non-empty id.
pub fn id(field: &str, raw: &str) -> Result<String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(Error::invalid(format!("{field} is required")));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email(" Ann@Example.COM ").ok().as_deref(),
            Some("ann@example.com")
        );
        assert!(email("ann").is_err());
        assert!(email("@example.com").is_err());
        assert!(email("ann@localhost").is_err());
        assert!(email("a b@example.com").is_err());
        assert_eq!(email_domain("ann@partner.example"), "partner.example");
    }

    #[test]
    fn domains_codes_scopes() {
        assert_eq!(
            domain("@Partner.Example").ok().as_deref(),
            Some("partner.example")
        );
        assert!(domain("nodot").is_err());
        assert!(app_code("chatapp").is_ok());
        assert!(app_code("Chat App").is_err());
        assert!(scope("broker.check_access").is_ok());
        assert!(scope("broker").is_err());
        assert!(scope("Broker.x").is_err());
    }
}
