//! One client connection to the target, plain TCP or TLS, and the connector that makes them.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, HandshakeKind};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::LoadError;
use crate::cli::Common;
use crate::target::resolve_loopback;

/// A connected stream: plain TCP (`--plain`) or TLS with the handshake complete.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Makes connections to the target; cheap to clone (one shared TLS config).
#[derive(Clone)]
pub struct Connector {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

// === impl Connector ===

impl Connector {
    /// A connector for `--connect` (loopback only) with `config` unless `--plain`.
    pub fn new(
        common: &Common,
        config: impl FnOnce() -> Result<Arc<ClientConfig>, LoadError>,
    ) -> Result<Self, LoadError> {
        let given = common
            .connect
            .as_deref()
            .ok_or_else(|| LoadError::Usage("--connect HOST:PORT is required".to_owned()))?;
        let addr = resolve_loopback(given)?;
        let tls = if common.plain {
            None
        } else {
            let name = ServerName::try_from(common.server_name.clone()).map_err(|e| {
                LoadError::Usage(format!("--server-name {}: {e}", common.server_name))
            })?;
            Some((TlsConnector::from(config()?), name))
        };
        Ok(Self { addr, tls })
    }

    /// The target address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// TCP connect (no Nagle delay) and, unless plain, the TLS handshake.
    pub async fn connect(&self) -> Result<Conn, LoadError> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| LoadError::io(format!("connect {}", self.addr), e))?;
        tcp.set_nodelay(true)
            .map_err(|e| LoadError::io("TCP_NODELAY", e))?;
        match &self.tls {
            None => Ok(Conn::Plain(tcp)),
            Some((connector, name)) => connector
                .connect(name.clone(), tcp)
                .await
                .map(|tls| Conn::Tls(Box::new(tls)))
                .map_err(|e| LoadError::io("TLS handshake", e)),
        }
    }
}

// === impl Conn ===

impl Conn {
    /// Whether the TLS handshake resumed a session (false for plain TCP).
    pub fn resumed(&self) -> bool {
        match self {
            Self::Plain(_) => false,
            Self::Tls(tls) => tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
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
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
