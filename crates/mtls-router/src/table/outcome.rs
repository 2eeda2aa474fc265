//! What a lookup answers: the winning route with its rank, or why there is none.

use std::cmp::Reverse;
use std::net::IpAddr;

use mtls_identity::TenantId;

use mtls_route_spec::{ConnectPattern, ConnectRoute, HttpRoute, TcpRoute};

use crate::table::host::HostSpecificity;

/// The ranking summary of an HTTP candidate. Greater is better: host specificity first, then
/// the prefix's segment count, then the earlier route in tie-break order (routes sorted by
/// key, equal keys in the order given to [`RouteTable::build`](crate::RouteTable::build)).
///
/// The order is total and never depends on hash order, so the same routes always give the
/// same winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpRank {
    host: HostSpecificity,
    prefix_segments: usize,
    position: Reverse<u32>,
}

// === impl HttpRank ===

impl HttpRank {
    pub(crate) fn new(host: HostSpecificity, prefix_segments: usize, position: u32) -> Self {
        Self {
            host,
            prefix_segments,
            position: Reverse(position),
        }
    }

    /// How specifically the route's host pattern matched.
    pub fn host(&self) -> HostSpecificity {
        self.host
    }

    /// Segments of the route's path prefix: 0 for `/`, 2 for `/api/v1`.
    pub fn prefix_segments(&self) -> usize {
        self.prefix_segments
    }

    /// The route's place in its tenant's tie-break order (0 is first).
    pub fn position(&self) -> u32 {
        self.position.0
    }
}

/// The HTTP route that wins a request.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpMatch<'a, K> {
    /// The caller's key of the route.
    pub key: &'a K,
    /// The route.
    pub route: &'a HttpRoute,
    /// Why it won.
    pub rank: HttpRank,
}

// === impl HttpMatch ===

// By hand: the derives would require `K: Copy`, but only references to `K` are held.
impl<K> Clone for HttpMatch<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for HttpMatch<'_, K> {}

/// The TCP route that wins a TLS server name.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpMatch<'a, K> {
    /// The caller's key of the route.
    pub key: &'a K,
    /// The route.
    pub route: &'a TcpRoute,
    /// How specifically its SNI pattern matched.
    pub host: HostSpecificity,
}

// === impl TcpMatch ===

// By hand: the derives would require `K: Copy`, but only references to `K` are held.
impl<K> Clone for TcpMatch<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for TcpMatch<'_, K> {}

/// The CONNECT route, and its pattern, that allows a destination.
///
/// When several patterns allow it, the most specific host wins (exact beats wildcard, longer
/// wildcard beats shorter), then the narrower port range, then tie-break order. Only the
/// winner's `allow_private` and `egress_bind` apply.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectMatch<'a, K> {
    /// The caller's key of the route.
    pub key: &'a K,
    /// The route.
    pub route: &'a ConnectRoute,
    /// The pattern of `route` that allowed the destination.
    pub pattern: &'a ConnectPattern,
}

// === impl ConnectMatch ===

impl<K> Clone for ConnectMatch<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for ConnectMatch<'_, K> {}

impl<K> ConnectMatch<'_, K> {
    /// Whether the destination may resolve to a non-public address (see
    /// [`non_public_range`](mtls_route_spec::non_public_range)); the gateway checks after DNS.
    pub fn allow_private(&self) -> bool {
        self.route.allow_private
    }

    /// The source address for the tunnel's outbound connection, if the route sets one.
    pub fn egress_bind(&self) -> Option<IpAddr> {
        self.route.egress_bind
    }
}

/// Why a lookup found no route. Cheap to return (no allocation); attach the request with
/// [`NoRoute::for_http`] and friends when it must be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NoRoute {
    /// The tenant has no routes at all.
    #[error("the tenant has no routes")]
    UnknownTenant,
    /// No route of the tenant claims the host (or SNI); for HTTP, no route of the right kind.
    #[error("no route of the tenant claims this host")]
    NoHostMatch,
    /// Routes claim the host, but none of their path prefixes matches the path.
    #[error("routes claim this host, but no path prefix matches the path")]
    NoPathMatch,
    /// No CONNECT pattern of the tenant allows the destination `host:port`.
    #[error("no CONNECT route of the tenant allows this destination")]
    NotAllowed,
}

// === impl NoRoute ===

impl NoRoute {
    /// A short stable name for metrics labels and JSON error bodies: `unknown_tenant`,
    /// `no_host_match`, `no_path_match` or `not_allowed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UnknownTenant => "unknown_tenant",
            Self::NoHostMatch => "no_host_match",
            Self::NoPathMatch => "no_path_match",
            Self::NotAllowed => "not_allowed",
        }
    }

    /// This miss, naming the tenant and the HTTP request's host and path.
    pub fn for_http(self, tenant: &TenantId, host: &str, path: &str) -> RouteMiss {
        RouteMiss::new(self, tenant, format!("host {host:?} path {path:?}"))
    }

    /// This miss, naming the tenant and the TLS server name.
    pub fn for_tcp(self, tenant: &TenantId, sni: &str) -> RouteMiss {
        RouteMiss::new(self, tenant, format!("server name {sni:?}"))
    }

    /// This miss, naming the tenant and the CONNECT destination.
    pub fn for_connect(self, tenant: &TenantId, host: &str, port: u16) -> RouteMiss {
        RouteMiss::new(self, tenant, format!("CONNECT {host}:{port}"))
    }
}

/// A [`NoRoute`] with the tenant and the request it was about, for logs and operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant {tenant}: no route for {request}")]
#[non_exhaustive]
pub struct RouteMiss {
    /// The tenant whose routes were consulted.
    pub tenant: TenantId,
    /// The request, e.g. `host "api.x" path "/v1"` or `CONNECT db.x:5432`.
    pub request: String,
    /// Why nothing matched.
    #[source]
    pub reason: NoRoute,
}

// === impl RouteMiss ===

impl RouteMiss {
    fn new(reason: NoRoute, tenant: &TenantId, request: String) -> Self {
        Self {
            tenant: tenant.clone(),
            request,
            reason,
        }
    }
}
