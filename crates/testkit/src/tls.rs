//! Test certificates, generated for each run (rcgen): a CA and leaf
//! certificates for `localhost` / `127.0.0.1`, good for both ends of a
//! connection. `KEYHOLDER_TEST_TLS=tls` (or `mtls`) runs every suite's
//! services and clients over TLS (or mutual TLS) with them.

use keyholder_kit::tls::TlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How the suites of this test process talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plaintext on loopback (the default).
    Plain,
    /// TLS: services serve the test certificate; clients verify it.
    Tls,
    /// Mutual TLS: services also require the client certificate.
    MutualTls,
}

/// `KEYHOLDER_TEST_TLS`: unset or empty → plaintext, `tls`, `mtls`.
pub fn transport() -> Transport {
    match std::env::var("KEYHOLDER_TEST_TLS").as_deref() {
        Ok("tls") => Transport::Tls,
        Ok("mtls") => Transport::MutualTls,
        Ok("") | Err(_) => Transport::Plain,
        Ok(other) => panic!("KEYHOLDER_TEST_TLS={other}: use tls or mtls"),
    }
}

/// A certificate authority and the files it issued, in a temp dir that
/// lives as long as this value.
pub struct TestPki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM).
    pub ca_file: PathBuf,
    /// A leaf certificate for localhost / 127.0.0.1 / ::1 (server and
    /// client use).
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
}

impl TestPki {
    /// A fresh CA named `name`, and one leaf certificate.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir for certificates");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).expect("self-signed CA");
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, ca.pem()).expect("write ca.crt");
        let mut pki = Self {
            issuer: Issuer::new(params, ca_key),
            ca_file,
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            dir,
        };
        let (cert_file, key_file) = pki.issue("tls");
        pki.cert_file = cert_file;
        pki.key_file = key_file;
        pki
    }

    /// Issues another leaf certificate for localhost / 127.0.0.1 / ::1,
    /// written as `<stem>.crt` and `<stem>.key`.
    pub fn issue(&self, stem: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("keyholder {stem}"));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        let cert_file = self.dir.path().join(format!("{stem}.crt"));
        let key_file = self.dir.path().join(format!("{stem}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write leaf certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write leaf key");
        (cert_file, key_file)
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `[tls]` with this CA's leaf, looked at again on every connection.
    pub fn config(&self, client_auth: bool) -> TlsConfig {
        TlsConfig {
            cert_file: Some(self.cert_file.clone()),
            key_file: Some(self.key_file.clone()),
            ca_file: Some(self.ca_file.clone()),
            client_auth,
            allow_plaintext_non_loopback: false,
            reload_secs: 0,
        }
    }
}

/// One CA for every suite of the process (making keys costs little, but
/// there is no reason to make one per test).
pub fn shared_pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::new("keyholder"))
}

/// The `[tls]` the suites run with under [`transport`].
pub fn suite_tls() -> TlsConfig {
    match transport() {
        Transport::Plain => TlsConfig::default(),
        Transport::Tls => shared_pki().config(false),
        Transport::MutualTls => shared_pki().config(true),
    }
}

/// `GET path` over HTTPS on `addr`, trusting the CA in `ca_file`, presenting no
/// certificate; the whole HTTP/1.1 answer.
pub async fn https_get(
    addr: std::net::SocketAddr,
    ca_file: &Path,
    path: &str,
) -> std::io::Result<String> {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls::pki_types::CertificateDer::pem_file_iter(ca_file).map_err(std::io::Error::other)?
    {
        roots
            .add(cert.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?,
            tcp,
        )
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut raw = String::new();
    // A TLS peer may close without close_notify after the answer.
    let _ = tls.read_to_string(&mut raw).await;
    Ok(raw)
}
