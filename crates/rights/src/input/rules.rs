//! The rules themselves: each takes the field's name and the raw value and
//! returns the value to store (trimmed, normalised) or why it was refused.

use super::{
    InputError, MAX_EMAIL_LEN, MAX_ID_LEN, MAX_NAME_LEN, MAX_REQUEST_ID_LEN, is_bidi, is_control,
    quote,
};
use crate::scopes;
use std::time::Duration;

fn required<'a>(field: &str, raw: &'a str, limit: usize) -> Result<&'a str, InputError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(InputError::Required {
            field: field.into(),
        });
    }
    bounded(field, v, limit)
}

fn bounded<'a>(field: &str, v: &'a str, limit: usize) -> Result<&'a str, InputError> {
    if v.chars().count() > limit {
        return Err(InputError::TooLong {
            field: field.into(),
            limit,
        });
    }
    Ok(v)
}

/// No control and no bidi characters: one line that reads as it displays.
fn single_line(field: &str, v: &str) -> Result<(), InputError> {
    if v.chars().any(is_control) {
        return Err(InputError::Control {
            field: field.into(),
        });
    }
    if v.chars().any(is_bidi) {
        return Err(InputError::Bidi {
            field: field.into(),
        });
    }
    Ok(())
}

/// An id: required, at most [`MAX_ID_LEN`] characters of ASCII letters,
/// digits and `- _ . :`. Not every id is a UUID (service-account client ids
/// are `svc-…`), so this does not ask for one; see [`uuid`].
pub fn id(field: &str, raw: &str) -> Result<String, InputError> {
    let v = required(field, raw, MAX_ID_LEN)?;
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(InputError::Charset {
            field: field.into(),
        });
    }
    Ok(v.to_string())
}

/// An optional id: empty stays empty, anything else is an [`id`].
pub fn optional_id(field: &str, raw: &str) -> Result<String, InputError> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    id(field, raw)
}

/// An id the services generate as a UUID (tenants, users, requests,
/// grants …), in its canonical lowercase hyphenated form.
pub fn uuid(field: &str, raw: &str) -> Result<String, InputError> {
    let v = required(field, raw, MAX_ID_LEN)?;
    uuid::Uuid::try_parse(v)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| InputError::NotUuid {
            field: field.into(),
            shown: quote(v),
        })
}

/// An optional UUID: empty stays empty.
pub fn optional_uuid(field: &str, raw: &str) -> Result<String, InputError> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    uuid(field, raw)
}

/// A display name, title or other short label: required, trimmed, at most
/// [`MAX_NAME_LEN`] characters, one line, no bidi controls.
pub fn name(field: &str, raw: &str) -> Result<String, InputError> {
    let v = required(field, raw, MAX_NAME_LEN)?;
    single_line(field, v)?;
    Ok(v.to_string())
}

/// An optional [`name`]: empty stays empty.
pub fn optional_name(field: &str, raw: &str) -> Result<String, InputError> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    name(field, raw)
}

/// Characters that would make an address ambiguous in a mail header.
fn header_special(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ':' | ';' | ',' | '<' | '>' | '"' | '(' | ')' | '[' | ']' | '\\'
        )
}

/// An e-mail address, trimmed and lowercased: one `@`, a non-empty local
/// part, a domain as [`domain`] accepts, nothing a mail header would read
/// differently (control or bidi characters, spaces, `<>,;:"()[]\`).
pub fn email(field: &str, raw: &str) -> Result<String, InputError> {
    let v = required(field, raw, MAX_EMAIL_LEN)?;
    single_line(field, v)?;
    let e = v.to_lowercase();
    let ok = !e.chars().any(header_special)
        && e.split_once('@').is_some_and(|(local, d)| {
            !local.is_empty() && !local.starts_with('.') && plain_domain(d)
        });
    if ok {
        Ok(e)
    } else {
        Err(InputError::Malformed {
            field: field.into(),
            shown: quote(v),
            what: "a valid e-mail address",
        })
    }
}

/// The domain part of an address [`email`] accepted.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

fn plain_domain(d: &str) -> bool {
    d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An e-mail domain like `partner.example` (a leading `@` is dropped),
/// lowercased.
pub fn domain(field: &str, raw: &str) -> Result<String, InputError> {
    let v = required(field, raw, MAX_EMAIL_LEN)?;
    let d = v.trim_start_matches('@').to_lowercase();
    if plain_domain(&d) {
        Ok(d)
    } else {
        Err(InputError::Malformed {
            field: field.into(),
            shown: quote(v),
            what: "a valid e-mail domain",
        })
    }
}

/// A code (an app's): lowercase ASCII letters, digits, `-` and `_`, at most
/// 64 characters.
pub fn code(field: &str, raw: &str) -> Result<String, InputError> {
    let v = required(field, raw, 64)?;
    let ok = v
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(v.to_string())
    } else {
        Err(InputError::Malformed {
            field: field.into(),
            shown: quote(v),
            what: "valid: use lowercase letters, digits, - and _",
        })
    }
}

/// Optional free text (a reason, a note, a detail), trimmed, at most `limit`
/// characters. Line breaks and tabs are fine (CR LF becomes LF); other
/// control characters and bidi controls are not.
pub fn text(field: &str, raw: &str, limit: usize) -> Result<String, InputError> {
    let v = raw.trim().replace("\r\n", "\n");
    bounded(field, &v, limit)?;
    if v.chars()
        .any(|c| is_control(c) && !matches!(c, '\n' | '\t'))
    {
        return Err(InputError::Control {
            field: field.into(),
        });
    }
    if v.chars().any(is_bidi) {
        return Err(InputError::Bidi {
            field: field.into(),
        });
    }
    Ok(v)
}

/// Required free text: [`text`], not empty.
pub fn required_text(field: &str, raw: &str, limit: usize) -> Result<String, InputError> {
    let v = text(field, raw, limit)?;
    if v.is_empty() {
        return Err(InputError::Required {
            field: field.into(),
        });
    }
    Ok(v)
}

/// A service-account scope, one of [`scopes::KNOWN`].
pub fn scope(raw: &str) -> Result<String, InputError> {
    let v = raw.trim();
    if scopes::is_known(v) {
        Ok(v.to_string())
    } else {
        Err(InputError::UnknownScope {
            shown: quote(v),
            known: scopes::KNOWN.join(", "),
        })
    }
}

/// A client-supplied request id (an idempotency key): optional, at most
/// [`MAX_REQUEST_ID_LEN`] characters, one line. Kept exactly as sent, so a
/// retry matches only the same key.
pub fn request_id(raw: &str) -> Result<String, InputError> {
    let v = bounded("request_id", raw, MAX_REQUEST_ID_LEN)?;
    single_line("request_id", v)?;
    Ok(v.to_string())
}

/// An enum number the contract defines (`E` is the generated enum): an
/// unknown number is refused rather than read as "unset", so a filter a
/// client meant is never silently dropped.
pub fn enum_value<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<E, InputError> {
    E::try_from(raw).map_err(|_| InputError::UnknownEnum {
        field: field.into(),
        value: raw,
    })
}

/// A duration sent as seconds and nanoseconds: not negative, nanoseconds in
/// range, at most `max`.
pub fn duration(
    field: &str,
    seconds: i64,
    nanos: i32,
    max: Duration,
) -> Result<Duration, InputError> {
    let range = |why: String| InputError::OutOfRange {
        field: field.into(),
        why,
    };
    if seconds < 0 || nanos < 0 {
        return Err(range("must not be negative".into()));
    }
    if nanos > 999_999_999 {
        return Err(range("has nanos outside 0..=999999999".into()));
    }
    let d = Duration::new(seconds.unsigned_abs(), nanos.unsigned_abs());
    if d > max {
        let days = max.as_secs() / 86_400;
        let limit = if days > 0 && max.as_secs().is_multiple_of(86_400) {
            format!("{days} days")
        } else {
            format!("{} seconds", max.as_secs())
        };
        return Err(range(format!("is too long: at most {limit}")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
