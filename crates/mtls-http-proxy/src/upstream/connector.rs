//! The connector under [`HttpUpstreamClient`](crate::HttpUpstreamClient): plain TCP through
//! [`mtls_egress::dial`] (the dialer every route kind shares: one lookup, every resolved
//! address checked against the route's destination policy, connect only to those), then TLS
//! for `https` URIs, reporting h2 when ALPN picked it. Counts failed dials and the bytes of
//! every upstream connection ([`UpstreamCounters`]).

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use mtls_egress::{DialError, EgressPolicy, dial};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::upstream::tls::{TlsSetup, parse_server_name};

/// Counters the upstream client updates: failed dials (a destination refused by policy
/// included) and the bytes written to and read from upstream connections (request and
/// response heads and bodies, upgraded connections too).
///
/// The default is three counters of its own, registered nowhere; the gateway passes the
/// listener's `mtlsd_dial_errors_total` and `mtlsd_bytes_proxied_total` series.
#[derive(Debug, Clone, Default)]
pub struct UpstreamCounters {
    /// Incremented once per failed dial.
    pub dial_errors: Counter,
    /// Bytes written to upstreams (`direction="client_to_upstream"`).
    pub client_to_upstream: Counter,
    /// Bytes read from upstreams (`direction="upstream_to_client"`).
    pub upstream_to_client: Counter,
}

/// Dials plain TCP through [`mtls_egress::dial`] (DNS once, the destination check on every
/// address, egress bind, connect timeout), then TLS for `https` URIs.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) egress: EgressPolicy,
    pub(crate) tls: Option<TlsSetup>,
    pub(crate) counters: UpstreamCounters,
}

/// Why dialling an upstream failed (the source of hyper-util's connect error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamDialError {
    #[error("cannot dial {authority}")]
    Dial {
        authority: String,
        #[source]
        source: DialError,
    },
    #[error("upstream URI {uri} has no host")]
    NoHost { uri: String },
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

/// The dial error under a failed upstream request, if the destination policy refused the
/// upstream's address (`allow_private` not set and a non-public address).
pub(crate) fn refused_destination<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a DialError> {
    dial_error(error).filter(|dial| dial.is_forbidden())
}

/// The egress address a failed upstream request could not bind, if that is why it failed
/// (the upstream is not at fault: it is neither marked failed nor retried elsewhere).
pub(crate) fn unbindable_egress(error: &(dyn std::error::Error + 'static)) -> Option<IpAddr> {
    dial_error(error).and_then(DialError::unbindable_egress)
}

/// The [`DialError`] in `error`'s source chain, if any.
fn dial_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a DialError> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(dial) = e.downcast_ref::<DialError>() {
            return Some(dial);
        }
        source = e.source();
    }
    None
}

// === impl Connector ===

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = UpstreamDialError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, UpstreamDialError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), UpstreamDialError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = self.tls.clone();
        let egress = self.egress;
        let counters = self.counters.clone();
        Box::pin(async move {
            if host.is_empty() {
                return Err(UpstreamDialError::NoHost {
                    uri: uri.to_string(),
                });
            }
            // Resolve once, check every address, connect only to those: no second lookup
            // between the check and the connect (DNS rebinding cannot slip in).
            let tcp = match dial(&host, port, &egress).await {
                Ok(tcp) => tcp,
                Err(source) => {
                    counters.dial_errors.inc();
                    if source.is_forbidden() {
                        tracing::warn!(upstream = %authority, error = %source, "upstream refused by the destination policy");
                    }
                    if let Some(egress) = source.unbindable_egress() {
                        tracing::warn!(upstream = %authority, %egress, error = %crate::error::error_chain(&source), "upstream not dialed: its egress source address cannot be bound");
                    }
                    return Err(UpstreamDialError::Dial { authority, source });
                }
            };
            if !https {
                return Ok(TokioIo::new(UpstreamStream::new(
                    Transport::Plain(tcp),
                    counters,
                )));
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
            let timeout = egress.dial_timeout;
            let stream = tokio::time::timeout(timeout, tls.connector.connect(server_name, tcp))
                .await
                .map_err(|_| UpstreamDialError::HandshakeTimeout {
                    authority: authority.clone(),
                    timeout,
                })?
                .map_err(|source| UpstreamDialError::Handshake { authority, source })?;
            Ok(TokioIo::new(UpstreamStream::new(
                Transport::Tls(Box::new(stream)),
                counters,
            )))
        })
    }
}

/// A connection to an upstream, counting the bytes it moves.
pub(crate) struct UpstreamStream {
    io: Transport,
    counters: UpstreamCounters,
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

// === impl UpstreamStream ===

impl UpstreamStream {
    fn new(io: Transport, counters: UpstreamCounters) -> Self {
        Self { io, counters }
    }

    fn count_written(&self, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &poll {
            self.counters.client_to_upstream.inc_by(*n as u64);
        }
        poll
    }
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match &self.io {
            Transport::Plain(tcp) => tcp.connected(),
            Transport::Tls(tls) => {
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
        let me = self.get_mut();
        let before = buf.filled().len();
        let poll = match &mut me.io {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if let Poll::Ready(Ok(())) = &poll {
            let read = buf.filled().len().saturating_sub(before);
            me.counters.upstream_to_client.inc_by(read as u64);
        }
        poll
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let poll = match &mut me.io {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        me.count_written(poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let poll = match &mut me.io {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        me.count_written(poll)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
