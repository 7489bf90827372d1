//! TLS on every hop: the `[tls]` settings, the rule that plaintext stays on
//! loopback, and (in the submodules) the listener side, the client side and
//! the certificate files they reload without a restart. One crypto provider
//! (ring) throughout.

mod client;
mod files;
mod reload;
mod server;

pub use client::ClientTls;
pub(crate) use server::incoming as server_incoming;
pub use server::{Conn, ServerTls, TlsListener};

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The `[tls]` section (`KEYHOLDER_TLS__*`): one certificate and key per
/// process, served by its listeners and presented as its client certificate
/// when a peer asks for one; one CA file to verify peers with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first). Listeners speak TLS when set.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificate(s) that verify the services this one calls (and,
    /// with `client_auth`, the clients that call it). Unset: `https://`
    /// URLs are verified against the public web roots.
    pub ca_file: Option<PathBuf>,
    /// Mutual TLS: the gRPC listener refuses clients without a certificate
    /// issued by `ca_file`.
    pub client_auth: bool,
    /// Let a listener bind, or a client call, a non-loopback address in
    /// plaintext. Off: such a start is refused.
    pub allow_plaintext_non_loopback: bool,
    /// How often (seconds) the files are looked at again; a changed set is
    /// loaded for the next connections without a restart. 0: at every
    /// connection.
    pub reload_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            ca_file: None,
            client_auth: false,
            allow_plaintext_non_loopback: false,
            reload_secs: 10,
        }
    }
}

/// Why TLS could not be set up, or a plaintext hop is refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the kind expected.
    #[error("{path} holds no {what}")]
    Empty {
        /// Which file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// A file is not valid PEM.
    #[error("{path} is not valid PEM: {why}")]
    Pem {
        /// Which file.
        path: PathBuf,
        /// The parser's words.
        why: String,
    },
    /// rustls refused the certificates or key (mismatch, unsupported key …).
    #[error("cannot use the TLS certificates: {0}")]
    Rustls(String),
    /// The settings do not fit together.
    #[error("invalid [tls] settings: {0}")]
    Settings(&'static str),
    /// A listener on a non-loopback address without TLS.
    #[error(
        "refusing to serve plaintext on {0}, which is not a loopback address: set tls.cert_file and tls.key_file (KEYHOLDER_TLS__CERT_FILE, KEYHOLDER_TLS__KEY_FILE), or allow it with tls.allow_plaintext_non_loopback = true"
    )]
    PlaintextListener(SocketAddr),
    /// A client URL in plaintext to a host that is not loopback.
    #[error(
        "refusing to call {0} in plaintext: it is not a loopback address; use https:// (with tls.ca_file), or allow it with tls.allow_plaintext_non_loopback = true"
    )]
    PlaintextCall(String),
}

impl TlsConfig {
    /// Whether listeners speak TLS.
    pub fn serves_tls(&self) -> bool {
        self.cert_file.is_some()
    }

    /// How often the files are looked at again.
    pub fn reload_every(&self) -> Duration {
        Duration::from_secs(self.reload_secs)
    }

    /// The settings fit together: certificate and key come as a pair, and
    /// mutual TLS needs both a certificate and a CA.
    pub fn validate(&self) -> Result<(), TlsError> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(TlsError::Settings(
                "cert_file and key_file must be set together",
            ));
        }
        if self.client_auth && (self.cert_file.is_none() || self.ca_file.is_none()) {
            return Err(TlsError::Settings(
                "client_auth needs cert_file, key_file and ca_file",
            ));
        }
        Ok(())
    }

    /// A listener on `addr` may serve plaintext only on loopback, unless
    /// explicitly allowed.
    pub fn check_plaintext_listener(&self, addr: SocketAddr) -> Result<(), TlsError> {
        if self.serves_tls() || self.allow_plaintext_non_loopback || addr.ip().is_loopback() {
            return Ok(());
        }
        Err(TlsError::PlaintextListener(addr))
    }

    /// A client may call `host` in plaintext only on loopback (`localhost`
    /// or a loopback IP), unless explicitly allowed.
    pub fn check_plaintext_call(&self, url: &str, host: &str) -> Result<(), TlsError> {
        if self.allow_plaintext_non_loopback || is_loopback_host(host) {
            return Ok(());
        }
        Err(TlsError::PlaintextCall(url.to_string()))
    }
}

/// `localhost`, or an IP address on the loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn plaintext_listeners_stay_on_loopback_unless_allowed() {
        let plain = TlsConfig::default();
        assert!(
            plain
                .check_plaintext_listener(addr("127.0.0.1:50051"))
                .is_ok()
        );
        assert!(plain.check_plaintext_listener(addr("[::1]:50051")).is_ok());
        for a in ["0.0.0.0:50051", "10.1.2.3:50051", "[::]:50051"] {
            let err = plain.check_plaintext_listener(addr(a));
            assert!(
                matches!(&err, Err(TlsError::PlaintextListener(x)) if *x == addr(a)),
                "{a}: {err:?}"
            );
        }
        let message = plain
            .check_plaintext_listener(addr("0.0.0.0:1"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("allow_plaintext_non_loopback"),
            "{message}"
        );

        let allowed = TlsConfig {
            allow_plaintext_non_loopback: true,
            ..TlsConfig::default()
        };
        assert!(
            allowed
                .check_plaintext_listener(addr("0.0.0.0:50051"))
                .is_ok()
        );
        let tls = TlsConfig {
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
            ..TlsConfig::default()
        };
        assert!(tls.check_plaintext_listener(addr("0.0.0.0:50051")).is_ok());
    }

    #[test]
    fn plaintext_calls_stay_on_loopback_unless_allowed() {
        let plain = TlsConfig::default();
        for host in ["127.0.0.1", "localhost", "[::1]", "127.8.9.10"] {
            assert!(plain.check_plaintext_call("u", host).is_ok(), "{host}");
        }
        for host in ["identity.keyholder.svc", "10.0.0.7", "[2001:db8::1]"] {
            assert!(
                matches!(plain.check_plaintext_call("u", host), Err(TlsError::PlaintextCall(u)) if u == "u"),
                "{host}"
            );
        }
        let allowed = TlsConfig {
            allow_plaintext_non_loopback: true,
            ..TlsConfig::default()
        };
        assert!(allowed.check_plaintext_call("u", "identity").is_ok());
    }

    #[test]
    fn settings_that_do_not_fit_are_refused() {
        let half = TlsConfig {
            cert_file: Some("c.pem".into()),
            ..TlsConfig::default()
        };
        assert!(matches!(half.validate(), Err(TlsError::Settings(_))));
        let mutual_without_ca = TlsConfig {
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
            client_auth: true,
            ..TlsConfig::default()
        };
        assert!(matches!(
            mutual_without_ca.validate(),
            Err(TlsError::Settings(_))
        ));
        assert!(TlsConfig::default().validate().is_ok());
    }
}
