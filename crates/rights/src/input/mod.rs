//! Input rules, one per kind of value (ids, UUIDs, names, e-mail addresses,
//! free text, scopes, enum values, request ids, durations), shared by every
//! service so that the same field is judged the same way everywhere.
//!
//! Every rule returns an [`InputError`] naming the field, in plain English,
//! quoting at most [`QUOTE_LEN`] characters of the bad value (escaped), so a
//! refusal never echoes a caller's payload back in full.

mod rules;

pub use rules::{
    code, domain, duration, email, email_domain, enum_value, id, name, optional_id, optional_name,
    optional_uuid, request_id, required_text, scope, text, uuid,
};

/// Longest id (audit's limit for ids in events).
pub const MAX_ID_LEN: usize = 200;
/// Longest display name, title or other short name.
pub const MAX_NAME_LEN: usize = 200;
/// Longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest client-supplied request id.
pub const MAX_REQUEST_ID_LEN: usize = 200;
/// How much of a bad value a refusal quotes.
pub const QUOTE_LEN: usize = 40;

/// Why a value was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Empty (or only spaces).
    #[error("{field} is required")]
    Required {
        /// The field.
        field: String,
    },
    /// Longer than the field allows.
    #[error("{field} must be at most {limit} characters")]
    TooLong {
        /// The field.
        field: String,
        /// The limit, in characters.
        limit: usize,
    },
    /// Holds a control character (NUL, BEL, CR, LF …).
    #[error("{field} must not contain control characters")]
    Control {
        /// The field.
        field: String,
    },
    /// Holds a bidirectional override or isolate (U+202A–U+202E, U+2066–U+2069).
    #[error("{field} must not contain bidirectional text controls")]
    Bidi {
        /// The field.
        field: String,
    },
    /// An id with characters ids never have.
    #[error("{field} may contain only letters, digits and - _ . :")]
    Charset {
        /// The field.
        field: String,
    },
    /// Not a UUID where one is required.
    #[error("{field} must be a UUID, not {shown}")]
    NotUuid {
        /// The field.
        field: String,
        /// The value, quoted and cut short.
        shown: String,
    },
    /// Not of the shape the field needs.
    #[error("{field} {shown} is not {what}")]
    Malformed {
        /// The field.
        field: String,
        /// The value, quoted and cut short.
        shown: String,
        /// What it should be, e.g. "a valid e-mail address".
        what: &'static str,
    },
    /// A scope no service checks.
    #[error("scope {shown} is not known; known scopes are {known}")]
    UnknownScope {
        /// The value, quoted and cut short.
        shown: String,
        /// The known scopes, comma-separated.
        known: String,
    },
    /// An enum number the contract does not define.
    #[error("{field} {value} is not a known value")]
    UnknownEnum {
        /// The field.
        field: String,
        /// The number sent.
        value: i32,
    },
    /// Out of the field's range (a negative or too long duration …).
    #[error("{field} {why}")]
    OutOfRange {
        /// The field.
        field: String,
        /// What is wrong, e.g. "must not be negative".
        why: String,
    },
}

impl InputError {
    /// The field refused.
    pub fn field(&self) -> &str {
        match self {
            Self::Required { field }
            | Self::TooLong { field, .. }
            | Self::Control { field }
            | Self::Bidi { field }
            | Self::Charset { field }
            | Self::NotUuid { field, .. }
            | Self::Malformed { field, .. }
            | Self::UnknownEnum { field, .. }
            | Self::OutOfRange { field, .. } => field,
            Self::UnknownScope { .. } => "scopes",
        }
    }
}

/// At most [`QUOTE_LEN`] characters of `raw`, quoted with control and bidi
/// characters escaped, and `…` when cut: safe to put in a message or a log.
pub fn quote(raw: &str) -> String {
    let mut out = String::from('"');
    let mut chars = raw.chars();
    for c in chars.by_ref().take(QUOTE_LEN) {
        // Only what could disturb a reader is escaped: printable text,
        // accents and all, is quoted as sent.
        if is_control(c) || is_bidi(c) || c == '"' || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// A control character, or a Unicode line or paragraph separator: anything
/// that breaks a line or rings a bell where a single line of text belongs.
pub fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A bidirectional embedding, override or isolate: makes text display in an
/// order other than it reads (`hi \u{202E}gnp.exe` shows as `hi exe.png`).
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A character never shown where outside input is displayed: a control
/// ([`is_control`]), a bidirectional control ([`is_bidi`]) or a directional
/// mark (LRM, RLM, ALM). The one rule for mail subjects and for the text of
/// errors sent to callers.
pub fn is_hidden(c: char) -> bool {
    is_control(c) || is_bidi(c) || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `raw` without hidden characters ([`is_hidden`]; line breaks and other
/// controls become spaces): for anything that reaches a mail header or a
/// single-line display, as defence in depth behind the rules above.
pub fn single_line(raw: &str) -> String {
    raw.chars()
        .filter_map(|c| match c {
            c if is_control(c) => Some(' '),
            c if is_hidden(c) => None,
            c => Some(c),
        })
        .collect()
}
