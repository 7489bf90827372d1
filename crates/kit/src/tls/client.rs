//! The client side: calls to `https://` URLs verify the server against the
//! CA file (the public web roots without one) and present this process's
//! certificate when the server asks for one (mutual TLS), both reloaded
//! from the files when they change.

use super::reload::Reloading;
use super::{TlsConfig, TlsError, files};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// What a client trusts and presents.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<Reloading<ClientConfig>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

/// Which files a client reads, in this order: the CA, then certificate
/// and key.
struct Layout {
    ca: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
}

fn build(contents: &[Vec<u8>], layout: &Layout) -> Result<ClientConfig, TlsError> {
    let mut next = contents.iter();
    let roots = match &layout.ca {
        Some(path) => files::roots(path, next.next().map_or(&[][..], |c| c))?,
        None => files::web_roots(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match &layout.identity {
        Some((cert_path, key_path)) => {
            let chain = files::certificates(cert_path, next.next().map_or(&[][..], |c| c))?;
            let key = files::private_key(key_path, next.next().map_or(&[][..], |c| c))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Rustls(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl ClientTls {
    /// Trusts `tls.ca_file` (or the web roots) and presents `cert_file`
    /// when asked.
    pub fn new(tls: &TlsConfig) -> Result<Self, TlsError> {
        tls.validate()?;
        let layout = Layout {
            ca: tls.ca_file.clone(),
            identity: tls.cert_file.clone().zip(tls.key_file.clone()),
        };
        let mut paths = Vec::new();
        paths.extend(layout.ca.clone());
        if let Some((c, k)) = &layout.identity {
            paths.extend([c.clone(), k.clone()]);
        }
        let config = Reloading::new(paths, tls.reload_every(), move |contents| {
            build(contents, &layout)
        })?;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// A connector for tonic's `Endpoint::connect_with_connector_lazy`.
    pub fn connector(&self) -> Connector {
        Connector(self.clone())
    }
}

/// Opens TCP to the URI's host and port (Nagle off) and does the TLS
/// handshake, checking the certificate names that host.
#[derive(Debug, Clone)]
pub struct Connector(ClientTls);

type Connecting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
                    std::io::Error,
                >,
            > + Send,
    >,
>;

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.0.clone();
        Box::pin(async move {
            let invalid =
                |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string());
            let host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
                .ok_or_else(|| invalid("the URL has no host"))?;
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(host.clone())
                .map_err(|_| invalid("the URL's host is not a valid server name"))?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            super::server::no_delay(&tcp);
            let connector = tokio_rustls::TlsConnector::from(tls.config.current().await);
            let stream = connector.connect(name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
