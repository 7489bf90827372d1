//! Input checks for identity's handlers: thin names over the shared rules in
//! [`keyholder_rights::input`], so identity, broker and audit judge the same
//! field the same way.

use crate::error::Result;
use keyholder_rights::input;

/// A trimmed, lowercased e-mail address of plausible shape, with nothing a
/// mail header would misread (no NUL, CR/LF, bidi controls).
pub fn email(raw: &str) -> Result<String> {
    Ok(input::email("email", raw)?)
}

/// The domain part of a valid e-mail.
pub fn email_domain(email: &str) -> &str {
    input::email_domain(email)
}

/// A lowercase e-mail domain like `partner.example`.
pub fn domain(raw: &str) -> Result<String> {
    Ok(input::domain("email_domains", raw)?)
}

/// A non-empty display name or title of at most 200 characters, one line,
/// no bidi controls.
pub fn name(field: &str, raw: &str) -> Result<String> {
    Ok(input::name(field, raw)?)
}

/// An app code: lowercase letters, digits, `-`, `_`.
pub fn app_code(raw: &str) -> Result<String> {
    Ok(input::code("code", raw)?)
}

/// A service-account scope the services know, like `broker.check_access`.
pub fn scope(raw: &str) -> Result<String> {
    Ok(input::scope(raw)?)
}

/// A non-empty id that need not be a UUID (a service-account client id, a
/// principal that may be one).
pub fn id(field: &str, raw: &str) -> Result<String> {
    Ok(input::id(field, raw)?)
}

/// An id identity generated, hence a UUID (tenants, users, roles …).
pub fn uuid(field: &str, raw: &str) -> Result<String> {
    Ok(input::uuid(field, raw)?)
}

/// A client-supplied request id.
pub fn request_id(raw: &str) -> Result<String> {
    Ok(input::request_id(raw)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_answer_invalid_argument() {
        use keyholder_kit::error::{ErrorCode, ServiceError};
        let e = email("a\0b@v.example").err();
        assert!(matches!(
            e.as_ref().map(|e| e.code()),
            Some(ErrorCode::InvalidArgument)
        ));
        assert!(name("name", "hi \u{202E}gnp.exe").is_err());
        assert!(scope("root.everything").is_err());
        assert!(uuid("tenant_id", "not-a-uuid").is_err());
        assert!(id("client_id", "svc-0192").is_ok());
        assert_eq!(email_domain("ann@partner.example"), "partner.example");
    }
}
