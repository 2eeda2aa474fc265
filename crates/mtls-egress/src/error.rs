//! [`DialError`]: why a destination was refused or could not be reached.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Why [`dial`](crate::dial) refused a destination or could not reach it.
///
/// Callers that answer a client classify it with [`is_forbidden`](Self::is_forbidden)
/// (refused by policy) and [`is_timeout`](Self::is_timeout) (a limit ran out); everything
/// else means the destination is unreachable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
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
    /// allow private destinations (the decision of
    /// [`DestinationPolicy::check`](mtls_route_spec::DestinationPolicy::check)).
    #[error(
        "{host} resolves to {addr}, in the non-public range {why}; private destinations are not allowed"
    )]
    NonPublic {
        /// The host as requested.
        host: String,
        /// The offending address.
        addr: IpAddr,
        /// The name of the range, from [`mtls_route_spec::non_public_range`].
        range: &'static str,
        /// The range, and the IPv6 form when the address was judged by an IPv4 address it
        /// embeds ([`mtls_route_spec::non_public`]).
        why: mtls_route_spec::NonPublic,
    },
    /// No address of the destination is of the egress bind address's family.
    #[error("{host} has no address of the same family as the egress address {egress}")]
    EgressFamily {
        /// The host.
        host: String,
        /// The egress bind address.
        egress: IpAddr,
    },
    /// Binding the egress address failed: typically the host no longer holds it (it was
    /// removed from its interface after being assigned). Never retried from another source.
    #[error("cannot bind egress source address {egress} (does this host still hold it?)")]
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

// === impl DialError ===

impl DialError {
    /// Whether the destination was refused by policy (as opposed to unreachable).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::NonPublic { .. })
    }

    /// The egress address that could not be bound, when that is why the dial failed: the
    /// connection was not made from any other source.
    pub fn unbindable_egress(&self) -> Option<IpAddr> {
        match self {
            Self::Bind { egress, .. } => Some(*egress),
            _ => None,
        }
    }

    /// Whether resolving or connecting ran out of the dial timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ResolveTimeout { .. } | Self::ConnectTimeout { .. }
        )
    }
}
