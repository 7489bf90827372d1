//! Credential files written by identity's bootstrap and read by operators and
//! the other services. Written with mode 0600; contents never logged.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A service account's client credentials.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceCredentials {
    /// Client id.
    pub client_id: String,
    /// Secret.
    pub client_secret: String,
}

impl std::fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// Why a credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Reading or writing failed.
    #[error("credentials file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not the expected JSON.
    #[error("credentials file {0} is not valid JSON credentials")]
    Format(String),
}

/// Reads a JSON credentials file.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|_| CredentialsError::Format(path.display().to_string()))
}

/// Writes a JSON credentials file readable only by its owner.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), CredentialsError> {
    use std::io::Write;
    let io = |source| CredentialsError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir).map_err(io)?;
    }
    let body = serde_json::to_vec_pretty(value)
        .map_err(|_| CredentialsError::Format(path.display().to_string()))?;
    let mut f = crate::files::create_private_file(path, false).map_err(io)?;
    f.write_all(&body).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_owner_only_mode() -> Result<(), CredentialsError> {
        let dir = tempfile::tempdir().map_err(|source| CredentialsError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("x.credentials");
        let c = ServiceCredentials {
            client_id: "c".into(),
            client_secret: "s3cret".into(),
        };
        write(&path, &c)?;
        let back: ServiceCredentials = read(&path)?;
        assert_eq!(back, c);
        assert!(!format!("{back:?}").contains("s3cret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        Ok(())
    }
}

/// The operator's bootstrap sign-in, written once by identity.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorCredentials {
    /// Sign-in e-mail (tenant id empty).
    pub email: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for OperatorCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCredentials")
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}
