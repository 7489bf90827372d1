//! Audit's one error type and its mapping to gRPC codes.

use crate::domain::event::EventError;
use keyholder_kit::auth::AuthError;
use keyholder_kit::error::{ErrorCode, ServiceError};
use keyholder_kit::paging::PageError;

/// Everything an audit call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Authentication or permission.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A malformed event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A malformed page request.
    #[error(transparent)]
    Page(#[from] PageError),
    /// A login history page token this listing did not issue.
    #[error(transparent)]
    LoginCursor(#[from] crate::domain::login_cursor::CursorError),
    /// A field breaks one of the shared input rules.
    #[error(transparent)]
    Input(#[from] keyholder_rights::InputError),
    /// Some other bad input.
    #[error("{0}")]
    InvalidArgument(String),
    /// Concurrent appends kept winning; the caller may retry.
    #[error("the tenant's log was busy with concurrent appends; retry")]
    Conflict,
    /// The database failed.
    #[error("database error: {0}")]
    Db(sea_orm::DbErr),
    /// The witness could not be written or read.
    #[error(transparent)]
    Witness(#[from] crate::witness::WitnessError),
    /// A stored instant the service cannot represent (a corrupt row).
    #[error(transparent)]
    StoredInstant(#[from] keyholder_kit::instant::OutOfRange),
    /// An event's canonical content could not be written (the bytes the
    /// hash chain covers, so nothing is stored).
    #[error(transparent)]
    Canonical(#[from] crate::domain::event::CanonicalError),
    /// A bug or broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Error::Auth(e) => e.code(),
            Error::Event(_)
            | Error::Page(_)
            | Error::LoginCursor(_)
            | Error::Input(_)
            | Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::Conflict => ErrorCode::Aborted,
            Error::Db(_)
            | Error::Witness(_)
            | Error::StoredInstant(_)
            | Error::Canonical(_)
            | Error::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Error::Event(e) => Some(e.field_path()),
            Error::Page(e) => Some(e.field().to_string()),
            Error::LoginCursor(_) => Some("page_token".to_string()),
            Error::Input(e) => Some(e.field().to_string()),
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
    fn from(e: Error) -> tonic::Status {
        keyholder_kit::error::to_status(&e)
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database connect or migrate.
    #[error("audit database: {0}")]
    Database(#[from] keyholder_kit::db::DbSetupError),
    /// Reading or creating the checkpoint signing key.
    #[error("audit signing key: {0}")]
    SigningKey(String),
    /// The key-encryption key is missing or does not load.
    #[error(transparent)]
    Kek(#[from] keyholder_kit::kek::KekError),
    /// Identity's address is wrong.
    #[error("identity client: {0}")]
    Client(#[from] keyholder_kit::client::ClientError),
    /// The witness folder cannot be made.
    #[error("audit witness: {0}")]
    Witness(#[from] crate::witness::WitnessError),
    /// Mail transport setup.
    #[error("mail transport: {0}")]
    Mail(String),
    /// A database error while preparing.
    #[error("audit database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Serving failed.
    #[error("audit server: {0}")]
    Serve(#[from] keyholder_kit::serve::ServeError),
}
