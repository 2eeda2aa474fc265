//! The connector under [`HttpUpstreamClient`](crate::HttpUpstreamClient): plain TCP through
//! hyper-util's `HttpConnector`, then TLS for `https` URIs, reporting h2 when ALPN picked it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::body::BoxError;
use crate::upstream::tls::{TlsSetup, parse_server_name};

/// Dials plain TCP (through hyper-util's `HttpConnector`: DNS, egress bind, connect
/// timeout), then TLS for `https` URIs.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) http: HttpConnector,
    pub(crate) tls: Option<TlsSetup>,
    pub(crate) dial_timeout: Duration,
}

/// Why dialling an upstream failed (the source of hyper-util's connect error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamDialError {
    #[error("TCP connect to {authority} failed")]
    Tcp {
        authority: String,
        #[source]
        source: BoxError,
    },
    #[error("{authority} is https but the route has no TLS settings")]
    NoTls { authority: String },
    #[error("upstream host {host:?} is not a valid TLS server name")]
    ServerName { host: String },
    #[error("TLS handshake with {authority} failed")]
    Handshake {
        authority: String,
        #[source]
        source: io::Error,
    },
    #[error("TLS handshake with {authority} timed out after {timeout:?}")]
    HandshakeTimeout {
        authority: String,
        timeout: Duration,
    },
}

// === impl Connector ===

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = UpstreamDialError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, UpstreamDialError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), UpstreamDialError>> {
        tower::Service::<Uri>::poll_ready(&mut self.http, cx).map_err(|e| UpstreamDialError::Tcp {
            authority: String::new(),
            source: e.into(),
        })
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_owned();
        let tcp = self.http.call(uri);
        let tls = self.tls.clone();
        let timeout = self.dial_timeout;
        Box::pin(async move {
            let tcp = tcp
                .await
                .map_err(|e| UpstreamDialError::Tcp {
                    authority: authority.clone(),
                    source: e.into(),
                })?
                .into_inner();
            if !https {
                return Ok(TokioIo::new(UpstreamStream::Plain(tcp)));
            }
            let tls = tls.ok_or_else(|| UpstreamDialError::NoTls {
                authority: authority.clone(),
            })?;
            let server_name = match tls.server_name {
                Some(name) => name,
                None => {
                    parse_server_name(&host).map_err(|_| UpstreamDialError::ServerName { host })?
                }
            };
            let stream = tokio::time::timeout(timeout, tls.connector.connect(server_name, tcp))
                .await
                .map_err(|_| UpstreamDialError::HandshakeTimeout {
                    authority: authority.clone(),
                    timeout,
                })?
                .map_err(|source| UpstreamDialError::Handshake { authority, source })?;
            Ok(TokioIo::new(UpstreamStream::Tls(Box::new(stream))))
        })
    }
}

/// A connection to an upstream.
pub(crate) enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

// === impl UpstreamStream ===

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(tcp) => tcp.connected(),
            Self::Tls(tls) => {
                let (tcp, session) = tls.get_ref();
                let connected = tcp.connected();
                if session.alpn_protocol() == Some(b"h2") {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
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
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
