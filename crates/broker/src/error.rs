//! Broker's one error type and its mapping to gRPC codes.

use crate::domain::DomainError;
use keyholder_kit::auth::AuthError;
use keyholder_kit::error::{ErrorCode, ServiceError};

/// Everything a broker call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Authentication or a permission check failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// A field breaks one of the shared input rules.
    #[error(transparent)]
    Input(keyholder_rights::InputError),
    /// A malformed page request.
    #[error(transparent)]
    Page(#[from] keyholder_kit::paging::PageError),
    /// Not found (or not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Known caller, not allowed (also refused sign-ins).
    #[error("{0}")]
    PermissionDenied(String),
    /// A session token or refresh token is bad or expired.
    #[error("{0}")]
    Unauthenticated(String),
    /// Identity could not be reached (or the broker could not sign in to it).
    /// The caller gets the plain sentence; the detail (a file path, identity's
    /// own answer) goes to the log only.
    #[error("the broker cannot reach identity right now")]
    Identity(#[source] keyholder_kit::error::Detail),
    /// Audit could not be reached or refused a delivery.
    #[error("audit is unavailable: {0}")]
    Audit(String),
    /// A retry-safe call could not go ahead.
    #[error(transparent)]
    Idempotency(#[from] keyholder_kit::idempotency::IdempotencyError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(sea_orm::DbErr),
    /// A stored row does not read back (an instant out of range, an
    /// unknown state, a scope that is not JSON).
    #[error("stored data is unreadable: {0}")]
    Stored(String),
    /// A bug or an infrastructure failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<keyholder_kit::instant::OutOfRange> for Error {
    fn from(e: keyholder_kit::instant::OutOfRange) -> Self {
        Self::Stored(e.to_string())
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) => Self::InvalidArgument(m),
            DomainError::Input(e) => Self::Input(e),
            DomainError::Conflict(m) => Self::FailedPrecondition(m),
        }
    }
}

impl From<keyholder_rights::InputError> for Error {
    fn from(e: keyholder_rights::InputError) -> Self {
        Self::Input(e)
    }
}

impl ServiceError for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Auth(e) => e.code(),
            Self::Idempotency(e) => e.code(),
            Self::InvalidArgument(_) | Self::Input(_) | Self::Page(_) => ErrorCode::InvalidArgument,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Identity(_) | Self::Audit(_) => ErrorCode::Unavailable,
            Self::Db(_) | Self::Stored(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Input(e) => Some(e.field().to_string()),
            Self::Page(e) => Some(e.field().to_string()),
            Self::Idempotency(e) => e.field(),
            _ => None,
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        if keyholder_kit::db::is_nul_in_text(&e) {
            return Self::InvalidArgument(keyholder_kit::db::NUL_IN_TEXT.into());
        }
        Self::Db(e)
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        keyholder_kit::error::to_status(&e)
    }
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] keyholder_kit::db::DbSetupError),
    /// A query during start-up failed.
    #[error("database error during start-up: {0}")]
    Query(#[from] sea_orm::DbErr),
    /// The identity URL is invalid.
    #[error(transparent)]
    Client(#[from] keyholder_kit::client::ClientError),
    /// The key-encryption key is missing or does not load.
    #[error(transparent)]
    Kek(#[from] keyholder_kit::kek::KekError),
    /// The session signing key could not be made.
    #[error("cannot prepare the session signing key: {0}")]
    Key(String),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] keyholder_kit::serve::ServeError),
    /// The helpdesk webhook port could not be opened.
    #[error("cannot listen for helpdesk webhooks on {addr}: {source}")]
    WebhookListen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
