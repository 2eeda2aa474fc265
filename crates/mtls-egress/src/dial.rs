//! [`dial`]: resolve a destination once, check every address, connect with an egress
//! address and a timeout.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::error::DialError;
use mtls_route_spec::DestinationPolicy;

/// How a destination may be reached: which addresses are acceptable, from which source
/// address, within which time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Permit destinations in non-public ranges (the route's `allow_private`).
    pub allow_private: bool,
    /// Source address of the outbound connection (a stable egress IP).
    pub egress_bind: Option<IpAddr>,
    /// Limit for name resolution, and separately for connecting (all addresses together).
    pub dial_timeout: Duration,
}

// === impl EgressPolicy ===

impl EgressPolicy {
    /// Public destinations only, no egress bind, the given dial timeout.
    pub fn new(dial_timeout: Duration) -> Self {
        Self {
            allow_private: false,
            egress_bind: None,
            dial_timeout,
        }
    }

    /// The policy every resolved address is checked against.
    pub fn destinations(&self) -> DestinationPolicy {
        DestinationPolicy {
            allow_private: self.allow_private,
        }
    }
}

/// Resolves `host` once, checks every address against the policy, and connects to the
/// first checked address that answers (binding the egress address first, if any).
///
/// A destination is refused if **any** of its addresses is refused by
/// [`EgressPolicy::destinations`] ([`DestinationPolicy::check`]), and only the checked
/// addresses are connected to: there is no second lookup between check and connect, so DNS
/// rebinding cannot slip a private address in. IP literals (`[::1]` too) get the same
/// check and no lookup. Resolving and connecting each have [`EgressPolicy::dial_timeout`].
pub async fn dial(host: &str, port: u16, policy: &EgressPolicy) -> Result<TcpStream, DialError> {
    let addrs: Vec<SocketAddr> = match literal_ip(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => {
            let lookup = tokio::net::lookup_host((host, port));
            tokio::time::timeout(policy.dial_timeout, lookup)
                .await
                .map_err(|_| DialError::ResolveTimeout {
                    host: host.to_owned(),
                    timeout: policy.dial_timeout,
                })?
                .map_err(|source| DialError::Resolve {
                    host: host.to_owned(),
                    source,
                })?
                .collect()
        }
    };
    if addrs.is_empty() {
        return Err(DialError::NoAddress {
            host: host.to_owned(),
        });
    }
    // Every address, not just the first: a name that also resolves to a private address
    // could be steered there by the resolver's ordering.
    let destinations = policy.destinations();
    for addr in &addrs {
        destinations
            .check(addr.ip())
            .map_err(|refused| DialError::NonPublic {
                host: host.to_owned(),
                addr: refused.addr,
                range: refused.range,
                why: refused.why,
            })?;
    }
    let candidates: Vec<SocketAddr> = match policy.egress_bind {
        Some(egress) => addrs
            .into_iter()
            .filter(|a| a.is_ipv4() == egress.is_ipv4())
            .collect(),
        None => addrs,
    };
    if let (Some(egress), true) = (policy.egress_bind, candidates.is_empty()) {
        return Err(DialError::EgressFamily {
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
                return Err(DialError::ConnectTimeout {
                    host: host.to_owned(),
                    port,
                    timeout: policy.dial_timeout,
                });
            }
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(DialFailure::Bind(egress, source))) => {
                return Err(DialError::Bind { egress, source });
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
    Err(DialError::Connect {
        host: host.to_owned(),
        port,
        addr,
        source,
    })
}

/// The IP address `host` names literally (`10.0.0.5`, `::1` or `[::1]`), or `None` for a
/// name, which [`dial`] resolves. The address [`dial`] checks and connects to for a literal.
///
/// ```
/// use mtls_egress::literal_ip;
///
/// assert_eq!(literal_ip("[::ffff:127.0.0.1]"), Some("::ffff:127.0.0.1".parse()?));
/// assert_eq!(literal_ip("10.0.0.5"), Some("10.0.0.5".parse()?));
/// assert_eq!(literal_ip("db.internal"), None);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn literal_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
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
