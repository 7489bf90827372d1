//! The identity service's one error type and its gRPC mapping.

use keyholder_kit::auth::AuthError;
use keyholder_kit::error::{ErrorCode, ServiceError};

/// Everything that can go wrong in an identity call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// A field breaks one of the shared input rules.
    #[error(transparent)]
    Input(#[from] keyholder_rights::InputError),
    /// A malformed page request.
    #[error(transparent)]
    Page(#[from] keyholder_kit::paging::PageError),
    /// The thing does not exist, or is not the caller's to see.
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// Known caller, not allowed.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Sign-in or token refused.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed sign-ins: heard again after this many seconds.
    #[error("too many sign-in attempts; try again in {0} s")]
    Throttled(i64),
    /// The state does not allow it (seat limit, partner limit, chief admin …).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller's token was refused or lacks a right.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A retry-safe call could not go ahead.
    #[error(transparent)]
    Idempotency(#[from] keyholder_kit::idempotency::IdempotencyError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(sea_orm::DbErr),
    /// Audit could not be reached or refused a delivery of events.
    #[error("audit is unavailable: {0}")]
    Audit(String),
    /// A stored instant the service cannot represent (a corrupt row).
    #[error("internal error: {0}")]
    StoredInstant(#[from] keyholder_kit::instant::OutOfRange),
    /// A bug or a crypto failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }
    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    /// Shorthand for [`Error::PermissionDenied`].
    pub fn denied(msg: impl Into<String>) -> Self {
        Self::PermissionDenied(msg.into())
    }
    /// Shorthand for [`Error::FailedPrecondition`].
    pub fn precondition(msg: impl Into<String>) -> Self {
        Self::FailedPrecondition(msg.into())
    }
    /// Shorthand for [`Error::Internal`].
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}

impl ServiceError for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) | Self::Input(_) | Self::Page(_) => ErrorCode::InvalidArgument,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Self::Throttled(_) => ErrorCode::ResourceExhausted,
            Self::Auth(e) => e.code(),
            Self::Idempotency(e) => e.code(),
            Self::Audit(_) => ErrorCode::Unavailable,
            Self::Db(_) | Self::StoredInstant(_) | Self::Internal(_) => ErrorCode::Internal,
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

impl From<keyholder_kit::jwt::JwtError> for Error {
    fn from(e: keyholder_kit::jwt::JwtError) -> Self {
        match e {
            keyholder_kit::jwt::JwtError::Signing(m) => Self::Internal(m),
            other => Self::Unauthenticated(format!("invalid token: {other}")),
        }
    }
}

impl From<keyholder_kit::kek::KekError> for Error {
    fn from(e: keyholder_kit::kek::KekError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// Result of identity operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database connect or migrate.
    #[error(transparent)]
    Database(#[from] keyholder_kit::db::DbSetupError),
    /// Bootstrap (first start) failed.
    #[error("bootstrap failed: {0}")]
    Bootstrap(String),
    /// A credentials file could not be read or written.
    #[error(transparent)]
    Credentials(#[from] keyholder_kit::credentials::CredentialsError),
    /// The audit service's URL is not valid.
    #[error(transparent)]
    AuditUrl(#[from] keyholder_kit::client::ClientError),
    /// The key-encryption key is missing or does not load.
    #[error(transparent)]
    Kek(#[from] keyholder_kit::kek::KekError),
    /// Stored secrets could not be sealed with the key-encryption key.
    #[error(transparent)]
    Reseal(#[from] keyholder_kit::sealed::ResealError),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] keyholder_kit::serve::ServeError),
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        Self::Bootstrap(e.to_string())
    }
}
