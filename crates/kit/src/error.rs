//! One mapping from domain errors to gRPC statuses.
//!
//! Each service has its own `thiserror` enum implementing [`ServiceError`]; the
//! only place a `tonic::Status` is built from an error is [`to_status`].
//! Internal failures are logged with their detail and answered generically, so a
//! database message never reaches a caller.

use tonic::{Code, Status};

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
}

/// Turns a service error into the status a caller sees.
pub fn to_status<E: ServiceError + ?Sized>(err: &E) -> Status {
    let code = err.code();
    match code {
        ErrorCode::Internal => {
            tracing::error!(error = %err, "internal error");
            Status::internal("internal error; the service log has the details")
        }
        ErrorCode::Unavailable => {
            tracing::warn!(error = %err, "dependency unavailable");
            Status::unavailable(format!("temporarily unavailable: {err}"))
        }
        _ => Status::new(code.grpc(), err.to_string()),
    }
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
    }

    impl ServiceError for Demo {
        fn code(&self) -> ErrorCode {
            match self {
                Demo::Missing(_) => ErrorCode::NotFound,
                Demo::Db => ErrorCode::Internal,
            }
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
    }
}
