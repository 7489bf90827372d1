//! The listener side: TLS terminated here (tokio-rustls) on the accepted TCP
//! connections, handshakes off the accept loop, with the certificate and
//! the client CA taken from [`Reloading`] files at each handshake.

use super::reload::Reloading;
use super::{TlsConfig, TlsError, files};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest a client may take over its handshake: a peer that connects and
/// says nothing holds a task, not the listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many finished handshakes may wait for the server to take them.
const BACKLOG: usize = 128;

/// A listener's TLS: its certificate and key and, for mutual TLS, the CA its
/// clients' certificates must chain to, reloaded when the files change.
pub struct ServerTls {
    config: Reloading<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// gRPC is HTTP/2 only: clients that negotiate ALPN must be offered h2.
const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// The metrics port also speaks HTTP/1.1 (curl, probes).
const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

fn build(
    contents: &[Vec<u8>],
    paths: &[std::path::PathBuf],
    alpn: &[&[u8]],
) -> Result<ServerConfig, TlsError> {
    let (Some(cert_pem), Some(key_pem), Some(cert_path), Some(key_path)) = (
        contents.first(),
        contents.get(1),
        paths.first(),
        paths.get(1),
    ) else {
        return Err(TlsError::Settings(
            "cert_file and key_file must be set together",
        ));
    };
    let chain = files::certificates(cert_path, cert_pem)?;
    let key = files::private_key(key_path, key_pem)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match (contents.get(2), paths.get(2)) {
        (Some(ca_pem), Some(ca_path)) => {
            let roots = files::roots(ca_path, ca_pem)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    // with_single_cert checks that the key belongs to the certificate.
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

impl ServerTls {
    /// The gRPC listener's TLS, or `None` when `[tls]` has no certificate.
    /// Requires client certificates when `client_auth` is on.
    pub fn for_grpc(tls: &TlsConfig) -> Result<Option<Arc<Self>>, TlsError> {
        Self::new(tls, tls.client_auth, ALPN_GRPC)
    }

    /// The metrics listener's TLS: the same certificate, but no client
    /// certificate asked for (Prometheus and the kubelet's probes hold none;
    /// the port tells counts, not data).
    pub fn for_metrics(tls: &TlsConfig) -> Result<Option<Arc<Self>>, TlsError> {
        Self::new(tls, false, ALPN_HTTP)
    }

    fn new(
        tls: &TlsConfig,
        client_auth: bool,
        alpn: &'static [&'static [u8]],
    ) -> Result<Option<Arc<Self>>, TlsError> {
        tls.validate()?;
        let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
            return Ok(None);
        };
        let mut paths = vec![cert.clone(), key.clone()];
        if client_auth && let Some(ca) = &tls.ca_file {
            paths.push(ca.clone());
        }
        let shown = paths.clone();
        let config = Reloading::new(paths, tls.reload_every(), move |contents| {
            build(contents, &shown, alpn)
        })?;
        Ok(Some(Arc::new(Self { config })))
    }

    /// Accepts on `listener` until `shutdown` (or until the receiver is
    /// dropped), handing over each connection whose handshake succeeded.
    /// A failed handshake (no or a foreign client certificate, not TLS at
    /// all) is logged and closed.
    pub fn accept(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> mpsc::Receiver<(Conn, SocketAddr)> {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                no_delay(&tcp);
                let (tls, tx) = (self.clone(), tx.clone());
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.current().await);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((Conn::Tls(Box::new(stream)), peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(peer = %peer, error = %e, "TLS handshake refused");
                        }
                        Err(_) => {
                            tracing::info!(peer = %peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        rx
    }
}

/// Accepted connections with Nagle's algorithm off: a server-streaming
/// message (a standing change) or a small answer otherwise waits for the
/// peer's delayed ACK, about 40 ms on Linux.
pub(crate) fn no_delay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not turn Nagle's algorithm off");
    }
}

/// An accepted connection, plaintext or TLS: one type, so one server
/// serves either.
#[derive(Debug)]
pub enum Conn {
    /// Plaintext (loopback, or explicitly allowed).
    Plain(TcpStream),
    /// TLS, handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(t) => t,
            Self::Tls(s) => s.get_ref().0,
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    // The TCP peer, as for a plaintext connection: handlers read the
    // caller's address the same way either way (sign-in throttling).
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.tcp().connect_info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(t) => t.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Plaintext or TLS connections of `listener`, as a stream for tonic.
pub(crate) fn incoming(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    shutdown: CancellationToken,
) -> std::pin::Pin<Box<dyn tokio_stream::Stream<Item = io::Result<Conn>> + Send>> {
    use tokio_stream::StreamExt;
    match tls {
        Some(tls) => Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(tls.accept(listener, shutdown))
                .map(|(conn, _)| Ok(conn)),
        ),
        None => Box::pin(
            tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
                let conn = conn?;
                no_delay(&conn);
                Ok(Conn::Plain(conn))
            }),
        ),
    }
}

/// A TLS listener for axum (the metrics port).
pub struct TlsListener {
    local: SocketAddr,
    accepted: mpsc::Receiver<(Conn, SocketAddr)>,
}

impl TlsListener {
    /// Serves TLS with `tls` on `listener` until `shutdown`.
    pub fn new(
        listener: TcpListener,
        tls: Arc<ServerTls>,
        shutdown: CancellationToken,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        Ok(Self {
            local,
            accepted: tls.accept(listener, shutdown),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (shutdown): nothing more will come, and
            // axum's graceful shutdown ends the serving.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
