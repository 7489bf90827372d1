//! The rules of support access, free of gRPC and SQL: modes and limits,
//! scopes, the request and grant state machines, durations. Time is always a
//! parameter.

pub mod grant;
pub mod input;
pub mod limits;
pub mod notice;
pub mod request;
pub mod scope;
pub mod session;
pub mod state;
pub mod webhook;

/// Why a rule refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule by itself.
    #[error("{0}")]
    Invalid(String),
    /// A field breaks one of the shared input rules.
    #[error(transparent)]
    Input(#[from] keyholder_rights::InputError),
    /// The current state does not allow this.
    #[error("{0}")]
    Conflict(String),
}

impl From<keyholder_rights::RightError> for DomainError {
    fn from(e: keyholder_rights::RightError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// How support may enter a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nobody from support can enter.
    Closed,
    /// Each entry needs an approved request.
    OnRequest,
    /// Support may enter while this is on.
    Standing,
}

impl Mode {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::OnRequest => "on_request",
            Self::Standing => "standing",
        }
    }

    /// From the stored name; unknown names read as closed (the safe default).
    pub fn parse(s: &str) -> Self {
        match s {
            "on_request" => Self::OnRequest,
            "standing" => Self::Standing,
            _ => Self::Closed,
        }
    }
}

/// A person named in events: id, display name, e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Person {
    /// User or service-account id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
}
