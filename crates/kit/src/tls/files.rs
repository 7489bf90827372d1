//! Reading the PEM files: a certificate chain, its private key, a set of CA
//! certificates. Parsing only; rustls decides whether they are usable.

use super::TlsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// Every certificate in `pem` (read from `path`), in order.
pub(super) fn certificates(
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key in `pem`. The parser's error never quotes the
/// key, so it may be logged.
pub(super) fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            path: path.to_path_buf(),
            what: "private key",
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            why: other.to_string(),
        },
    })
}

/// A root store of every certificate in `pem`.
pub(super) fn roots(path: &Path, pem: &[u8]) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in certificates(path, pem)? {
        store
            .add(cert)
            .map_err(|e| TlsError::Rustls(format!("{}: {e}", path.display())))?;
    }
    Ok(store)
}

/// The public web's roots (Mozilla's), for `https://` URLs when no CA file
/// is configured (a managed OTLP collector, say).
pub(super) fn web_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}
