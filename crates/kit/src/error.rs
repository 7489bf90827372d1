//! One mapping from domain errors to gRPC statuses.
//!
//! Each service has its own `thiserror` enum implementing [`ServiceError`]; the
//! only place a `tonic::Status` is built from an error is [`to_status`].
//! Internal failures are logged with their detail and answered generically, so a
//! database message never reaches a caller.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The small set of outcomes a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request itself is wrong.
    InvalidArgument,
    /// The thing asked for does not exist (or is not the caller's to see).
    NotFound,
    /// It exists already.
    AlreadyExists,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The caller is not known: no, bad or expired token.
    Unauthenticated,
    /// The system is not in a state that allows this.
    FailedPrecondition,
    /// A concurrent change won; retry.
    Aborted,
    /// A limit was hit.
    ResourceExhausted,
    /// A dependency is down; retry later.
    Unavailable,
    /// A bug or an infrastructure failure.
    Internal,
}

impl ErrorCode {
    /// The gRPC code.
    pub fn grpc(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::Aborted => Code::Aborted,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::Unavailable => Code::Unavailable,
            Self::Internal => Code::Internal,
        }
    }
}

/// An error that knows which [`ErrorCode`] it is.
pub trait ServiceError: std::error::Error {
    /// Its code.
    fn code(&self) -> ErrorCode;

    /// The request field at fault, when the error is about one: sent with an
    /// `INVALID_ARGUMENT` as a standard `google.rpc.BadRequest` detail, so a
    /// client can point at the field without parsing the message.
    fn field(&self) -> Option<String> {
        None
    }
}

/// Longest message a caller is sent, in bytes, "…" included: a message may
/// quote input (an id, a name), and input can be any length.
pub const MAX_MESSAGE_BYTES: usize = 300;

/// What went wrong, in words for the log only. An error variant keeps it as
/// its `#[source]` and says something plain in its own message: [`to_status`]
/// logs the source chain and sends only the message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Detail(pub String);

impl From<String> for Detail {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Detail {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// A short id that ties a caller's answer to the log line with the detail.
pub fn correlation_id() -> String {
    uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(12)
        .collect()
}

/// `raw` made fit for a caller: hidden characters removed (line breaks and
/// tabs become spaces), and cut on a character boundary to at most
/// [`MAX_MESSAGE_BYTES`], ending in "…" when cut.
pub fn public_text(raw: &str) -> String {
    const ELLIPSIS: char = '…';
    let mut out = String::with_capacity(raw.len().min(MAX_MESSAGE_BYTES));
    let budget = MAX_MESSAGE_BYTES - ELLIPSIS.len_utf8();
    let mut cut_at = None;
    for c in raw.chars() {
        let c = match c {
            '\n' | '\r' | '\t' => ' ',
            c if keyholder_rights::input::is_hidden(c) => continue,
            c => c,
        };
        if cut_at.is_none() && out.len() + c.len_utf8() > budget {
            cut_at = Some(out.len());
        }
        if out.len() + c.len_utf8() > MAX_MESSAGE_BYTES {
            if let Some(at) = cut_at {
                out.truncate(at);
            }
            out.push(ELLIPSIS);
            return out;
        }
        out.push(c);
    }
    out
}

/// The error and every source below it, for the log.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

/// The answer to an internal failure: a generic sentence and a correlation
/// id, the detail logged under that id.
pub fn internal_status(detail: &dyn std::fmt::Display, what: &str) -> Status {
    let id = correlation_id();
    tracing::error!(correlation_id = %id, error = %detail, "{what}");
    Status::internal(format!(
        "internal error; the service log has the details under correlation id {id}"
    ))
}

/// Turns a service error into the status a caller sees.
pub fn to_status<E: ServiceError + 'static>(err: &E) -> Status {
    let code = err.code();
    match code {
        ErrorCode::Internal => internal_status(&chain(err), "internal error"),
        ErrorCode::Unavailable => {
            tracing::warn!(error = %chain(err), "dependency unavailable");
            Status::unavailable(public_text(&err.to_string()))
        }
        ErrorCode::InvalidArgument => {
            let message = public_text(&err.to_string());
            match err.field() {
                Some(field) => bad_request(&field, message),
                None => Status::invalid_argument(message),
            }
        }
        _ => Status::new(code.grpc(), public_text(&err.to_string())),
    }
}

/// `INVALID_ARGUMENT` carrying a `google.rpc.BadRequest` that names `field`
/// (its path in the request, e.g. `chief_admin.email`) and repeats the message
/// as the violation's description.
pub fn bad_request(field: &str, message: String) -> Status {
    let details = ErrorDetails::with_bad_request_violation(public_text(field), message.clone());
    Status::with_error_details(Code::InvalidArgument, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Demo {
        #[error("tenant {0} not found")]
        Missing(String),
        #[error("db exploded: password=secret")]
        Db,
        #[error("the broker cannot reach identity right now")]
        Down(#[source] Detail),
        #[error("name is required")]
        NoName,
    }

    impl ServiceError for Demo {
        fn code(&self) -> ErrorCode {
            match self {
                Demo::Missing(_) => ErrorCode::NotFound,
                Demo::Db => ErrorCode::Internal,
                Demo::Down(_) => ErrorCode::Unavailable,
                Demo::NoName => ErrorCode::InvalidArgument,
            }
        }

        fn field(&self) -> Option<String> {
            matches!(self, Demo::NoName).then(|| "name".to_string())
        }
    }

    #[test]
    fn user_errors_keep_their_message_internal_ones_hide_it() {
        let s = to_status(&Demo::Missing("t1".into()));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "tenant t1 not found");
        let s = to_status(&Demo::Db);
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
        assert!(s.message().contains("correlation id "), "{}", s.message());
    }

    #[test]
    fn a_refused_field_comes_as_a_bad_request_detail() {
        let s = to_status(&Demo::NoName);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "name is required");
        let violations = s
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "name");
        assert_eq!(violations[0].description, "name is required");
        // Errors about no one field carry no detail.
        let s = to_status(&Demo::Missing("t1".into()));
        assert!(s.get_details_bad_request().is_none());
    }

    #[test]
    fn each_internal_error_gets_its_own_correlation_id() {
        let a = to_status(&Demo::Db);
        let b = to_status(&Demo::Db);
        assert_ne!(a.message(), b.message());
        let id = a.message().rsplit(' ').next().unwrap_or_default();
        assert_eq!(id.len(), 12);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn unavailable_sends_the_plain_sentence_not_the_detail() {
        let e = Demo::Down(Detail::from(
            "broker's service credentials: /var/lib/keyholder/broker.json: No such file or directory",
        ));
        let s = to_status(&e);
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "the broker cannot reach identity right now");
    }

    #[test]
    fn long_input_is_never_echoed_whole() {
        let s = to_status(&Demo::Missing("x".repeat(100_000)));
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.message().len() <= MAX_MESSAGE_BYTES);
        assert!(s.message().starts_with("tenant xxx"));
        assert!(s.message().ends_with('…'));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        for pad in 0..4 {
            let raw = format!("{}{}", "a".repeat(pad), "я".repeat(400));
            let out = public_text(&raw);
            assert!(out.len() <= MAX_MESSAGE_BYTES, "{}", out.len());
            assert!(out.ends_with('…'));
        }
        let exact = "b".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(public_text(&exact), exact);
        let over = "b".repeat(MAX_MESSAGE_BYTES + 1);
        let cut = public_text(&over);
        assert_eq!(cut.len(), MAX_MESSAGE_BYTES);
        assert!(cut.ends_with("bb…"));
    }

    #[test]
    fn controls_and_bidi_overrides_are_stripped() {
        let raw =
            "tenant \u{202E}cod.exe\u{202C} \u{2066}x\u{2069}\u{200F}\u{0}\u{1b}[31m\nnext\u{7f}";
        let s = to_status(&Demo::Missing(raw.into()));
        assert_eq!(s.message(), "tenant tenant cod.exe x[31m next not found");
    }
}
