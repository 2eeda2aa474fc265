//! CONNECT egress: dial a tenant-requested destination safely, and serve HTTP CONNECT
//! tunnels on a hyper server.
//!
//! [`dial_connect_target`] resolves the destination **once**, refuses it if **any** resolved
//! address is in a non-public range ([`non_public_range`]: loopback, private, link-local
//! including cloud metadata, ...) unless the policy allows private destinations, and then
//! connects only to the addresses it checked. There is no second lookup between check and
//! connect, so DNS rebinding cannot slip a private address in. IP literals get the same
//! check.
//!
//! [`serve_connect`] is the HTTP side: dial first (so a refusal is a proper 403/502/504 JSON
//! response), then answer `200`, take the upgraded connection from hyper and [`splice`] it
//! to the destination.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mtls_route_spec::{HostPort, RouteSpecError, non_public_range};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::proxy::{ProxyBody, ProxyErrorKind, empty_body, error_response};
use crate::{SpliceConfig, SpliceSummary, splice};

/// How a CONNECT destination may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectPolicy {
    /// Permit destinations in non-public ranges (the route's `allow_private`).
    pub allow_private: bool,
    /// Source address of the outbound connection (a stable egress IP).
    pub egress_bind: Option<IpAddr>,
    /// Limit for name resolution, and separately for connecting (all addresses together).
    pub dial_timeout: Duration,
}

// === impl ConnectPolicy ===

impl ConnectPolicy {
    /// Public destinations only, no egress bind, the given dial timeout.
    pub fn new(dial_timeout: Duration) -> Self {
        Self {
            allow_private: false,
            egress_bind: None,
            dial_timeout,
        }
    }
}

/// Why a CONNECT destination was refused or could not be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The CONNECT request does not name a `host:port`.
    #[error("CONNECT target {target:?} is not host:port")]
    BadTarget {
        /// What the request named.
        target: String,
        /// Why it was refused.
        #[source]
        source: Option<RouteSpecError>,
    },
    /// The request is not a CONNECT.
    #[error("method {method} is not CONNECT")]
    NotConnect {
        /// The method.
        method: Method,
    },
    /// Name resolution failed.
    #[error("cannot resolve {host}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Name resolution took longer than the dial timeout.
    #[error("resolving {host} timed out after {timeout:?}")]
    ResolveTimeout {
        /// The host.
        host: String,
        /// The limit.
        timeout: Duration,
    },
    /// The name resolved to no address.
    #[error("{host} resolves to no address")]
    NoAddress {
        /// The host.
        host: String,
    },
    /// An address of the destination is in a non-public range and the policy does not
    /// allow private destinations.
    #[error("{host} resolves to {addr} ({range}); private destinations are not allowed")]
    NonPublic {
        /// The host as requested.
        host: String,
        /// The offending address.
        addr: IpAddr,
        /// The kind of range, from [`non_public_range`].
        range: &'static str,
    },
    /// No address of the destination is of the egress bind address's family.
    #[error("{host} has no address of the same family as the egress address {egress}")]
    EgressFamily {
        /// The host.
        host: String,
        /// The egress bind address.
        egress: IpAddr,
    },
    /// Binding the egress address failed.
    #[error("cannot bind egress address {egress}")]
    Bind {
        /// The egress bind address.
        egress: IpAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Connecting failed on every address.
    #[error("cannot connect to {host}:{port} ({addr})")]
    Connect {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The last address tried.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Connecting took longer than the dial timeout.
    #[error("connecting to {host}:{port} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The limit.
        timeout: Duration,
    },
}

// === impl ConnectError ===

impl ConnectError {
    /// The error response kind: `forbidden` for a non-public destination, `bad_request` for
    /// a malformed request, `upstream_timeout` for timeouts, `upstream_unreachable` for the
    /// rest.
    pub fn kind(&self) -> ProxyErrorKind {
        match self {
            Self::NonPublic { .. } => ProxyErrorKind::Forbidden,
            Self::BadTarget { .. } | Self::NotConnect { .. } => ProxyErrorKind::BadRequest,
            Self::ResolveTimeout { .. } | Self::ConnectTimeout { .. } => {
                ProxyErrorKind::UpstreamTimeout
            }
            _ => ProxyErrorKind::UpstreamUnreachable,
        }
    }

    /// Whether the destination was refused by policy (as opposed to unreachable).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::NonPublic { .. })
    }
}

/// The `host:port` a CONNECT request asks for.
pub fn connect_target<B>(request: &Request<B>) -> Result<HostPort, ConnectError> {
    if request.method() != Method::CONNECT {
        return Err(ConnectError::NotConnect {
            method: request.method().clone(),
        });
    }
    let Some(authority) = request.uri().authority() else {
        return Err(ConnectError::BadTarget {
            target: request.uri().to_string(),
            source: None,
        });
    };
    authority
        .as_str()
        .parse()
        .map_err(|source| ConnectError::BadTarget {
            target: authority.to_string(),
            source: Some(source),
        })
}

/// Resolves `host` once, checks every address against the policy, and connects to the
/// first checked address that answers (binding the egress address first, if any).
pub async fn dial_connect_target(
    host: &str,
    port: u16,
    policy: &ConnectPolicy,
) -> Result<TcpStream, ConnectError> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<IpAddr>();
    let addrs: Vec<SocketAddr> = match literal {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            tokio::time::timeout(policy.dial_timeout, lookup)
                .await
                .map_err(|_| ConnectError::ResolveTimeout {
                    host: host.to_owned(),
                    timeout: policy.dial_timeout,
                })?
                .map_err(|source| ConnectError::Resolve {
                    host: host.to_owned(),
                    source,
                })?
                .collect()
        }
    };
    if addrs.is_empty() {
        return Err(ConnectError::NoAddress {
            host: host.to_owned(),
        });
    }
    if !policy.allow_private {
        // Every address, not just the first: a name that also resolves to a private
        // address could be steered there by the resolver's ordering.
        for addr in &addrs {
            if let Some(range) = non_public_range(addr.ip()) {
                return Err(ConnectError::NonPublic {
                    host: host.to_owned(),
                    addr: addr.ip(),
                    range,
                });
            }
        }
    }
    let candidates: Vec<SocketAddr> = match policy.egress_bind {
        Some(egress) => addrs
            .into_iter()
            .filter(|a| a.is_ipv4() == egress.is_ipv4())
            .collect(),
        None => addrs,
    };
    if let (Some(egress), true) = (policy.egress_bind, candidates.is_empty()) {
        return Err(ConnectError::EgressFamily {
            host: host.to_owned(),
            egress,
        });
    }

    let deadline = Instant::now() + policy.dial_timeout;
    let mut last_error = None;
    for addr in candidates {
        let attempt = tokio::time::timeout_at(deadline, connect_one(addr, policy.egress_bind));
        match attempt.await {
            Err(_elapsed) => {
                return Err(ConnectError::ConnectTimeout {
                    host: host.to_owned(),
                    port,
                    timeout: policy.dial_timeout,
                });
            }
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(DialFailure::Bind(egress, source))) => {
                return Err(ConnectError::Bind { egress, source });
            }
            Ok(Err(DialFailure::Connect(source))) => last_error = Some((addr, source)),
        }
    }
    let (addr, source) = last_error.unwrap_or_else(|| {
        (
            SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port),
            io::Error::new(io::ErrorKind::NotFound, "no address to try"),
        )
    });
    Err(ConnectError::Connect {
        host: host.to_owned(),
        port,
        addr,
        source,
    })
}

enum DialFailure {
    Bind(IpAddr, io::Error),
    Connect(io::Error),
}

async fn connect_one(addr: SocketAddr, egress: Option<IpAddr>) -> Result<TcpStream, DialFailure> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(DialFailure::Connect)?;
    if let Some(egress) = egress {
        socket
            .bind(SocketAddr::new(egress, 0))
            .map_err(|e| DialFailure::Bind(egress, e))?;
    }
    let stream = socket.connect(addr).await.map_err(DialFailure::Connect)?;
    // Tunnels carry interactive protocols as often as bulk ones.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The result of [`serve_connect`]: the response for hyper, and the tunnel task when the
/// destination was reached.
#[derive(Debug)]
pub struct ConnectResponse {
    /// `200` with an empty body, or the JSON error response.
    pub response: Response<ProxyBody>,
    /// The tunnel: it waits for hyper's upgrade, then splices. Its output is the splice
    /// summary, or hyper's error when the client never upgraded.
    pub tunnel: Option<JoinHandle<Result<SpliceSummary, hyper::Error>>>,
    /// Why the destination was refused or unreachable, when it was.
    pub error: Option<ConnectError>,
}

/// Serves a CONNECT request whose destination the caller has already matched against the
/// tenant's routes: dials `target` under `policy`, and on success answers `200` and splices
/// the upgraded client connection to the destination with `config`.
///
/// `route` names the route in error responses. Failures are answered with
/// [`error_response`] (`forbidden` 403, `upstream_unreachable` 502, `upstream_timeout` 504).
pub async fn serve_connect<B>(
    request: Request<B>,
    target: &HostPort,
    policy: &ConnectPolicy,
    route: Option<&str>,
    config: SpliceConfig,
) -> ConnectResponse
where
    B: Send + 'static,
{
    let stream = match dial_connect_target(target.host(), target.port(), policy).await {
        Ok(stream) => stream,
        Err(error) => {
            return ConnectResponse {
                response: error_response(error.kind(), &error.to_string(), route),
                tunnel: None,
                error: Some(error),
            };
        }
    };
    let on_upgrade = hyper::upgrade::on(request);
    let tunnel = tokio::spawn(async move {
        let upgraded = on_upgrade.await?;
        Ok(splice(TokioIo::new(upgraded), stream, config).await)
    });
    let mut response = Response::new(empty_body());
    *response.status_mut() = StatusCode::OK;
    ConnectResponse {
        response,
        tunnel: Some(tunnel),
        error: None,
    }
}
