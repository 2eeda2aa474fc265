//! The route side of a decision: the tenant's route table compiled from a snapshot, and the
//! lookups the gateway makes per request.

use std::net::IpAddr;

use mtls_identity::TenantId;
use mtls_registry::{RouteId, Snapshot};
use mtls_route_spec::DestinationPolicy;
use mtls_router::{ConnectMatch, HttpExplanation, HttpMatch, NoRoute, RouteTable, TcpMatch};

/// One registry snapshot and the route table compiled from it: what every decision reads.
/// Immutable; build one per snapshot and share it (the gateway publishes it in its view).
#[derive(Debug)]
pub struct Policy {
    snapshot: Snapshot,
    table: RouteTable<RouteId>,
}

// === impl Policy ===

impl Policy {
    /// Compiles `snapshot`'s routes, every tenant's, into one table (each tenant's routes
    /// are only ever looked up inside its own part).
    pub fn new(snapshot: Snapshot) -> Self {
        let mut routes = Vec::new();
        for (tenant, _) in snapshot.tenants() {
            for record in snapshot.routes(tenant) {
                routes.push((tenant.clone(), record.id.clone(), record.spec.clone()));
            }
        }
        Self {
            table: RouteTable::build(routes),
            snapshot,
        }
    }

    /// The snapshot this policy was compiled from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The compiled route table.
    pub fn table(&self) -> &RouteTable<RouteId> {
        &self.table
    }

    /// The tenant's HTTP route for `host` and `path` (most specific host, then longest path
    /// prefix, then the oldest route). Allocates nothing.
    pub fn route_http(
        &self,
        tenant: &TenantId,
        host: &str,
        path: &str,
    ) -> Result<HttpMatch<'_, RouteId>, NoRoute> {
        self.table.match_http(tenant, host, path)
    }

    /// Like [`route_http`](Self::route_http), with every candidate and why it lost.
    pub fn explain_http(
        &self,
        tenant: &TenantId,
        host: &str,
        path: &str,
    ) -> HttpExplanation<'_, RouteId> {
        self.table.explain_http(tenant, host, path)
    }

    /// The tenant's TCP route for the TLS server name `sni`.
    pub fn route_tcp(
        &self,
        tenant: &TenantId,
        sni: &str,
    ) -> Result<TcpMatch<'_, RouteId>, NoRoute> {
        self.table.match_tcp(tenant, sni)
    }

    /// The tenant's connect route allowing `host:port`, with the verdict on the destination
    /// that can be given before DNS (see [`DestinationVerdict`]).
    pub fn route_connect(
        &self,
        tenant: &TenantId,
        host: &str,
        port: u16,
    ) -> Result<ConnectDecision<'_>, NoRoute> {
        let matched = self.table.match_connect(tenant, host, port)?;
        let destination = DestinationVerdict::before_dial(host, matched.allow_private());
        Ok(ConnectDecision {
            matched,
            destination,
        })
    }
}

/// A CONNECT target allowed by a route, and what is known of the destination before it is
/// resolved.
#[derive(Debug, Clone, Copy)]
pub struct ConnectDecision<'p> {
    /// The winning connect route and pattern.
    pub matched: ConnectMatch<'p, RouteId>,
    /// The destination verdict.
    pub destination: DestinationVerdict,
}

/// Whether a destination may be dialed, as far as it can be told before DNS: an IP literal
/// is judged now; a name is judged on every address it resolves to, at dial time, by the
/// same rule ([`DestinationVerdict::of_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestinationVerdict {
    /// A public address.
    Public(IpAddr),
    /// A non-public address (loopback, private, link-local, metadata, …) that the route
    /// allows with `allow_private`.
    PrivateAllowed {
        /// The address.
        ip: IpAddr,
        /// The kind of range it is in.
        range: &'static str,
    },
    /// A non-public address the route does not allow: the gateway answers 403.
    PrivateRefused {
        /// The address.
        ip: IpAddr,
        /// The kind of range it is in.
        range: &'static str,
    },
    /// A name: every address it resolves to is judged at dial time, and any non-public one
    /// refuses the dial unless `allow_private`.
    ResolvedAtDial {
        /// Whether the route allows non-public addresses.
        allow_private: bool,
    },
}

// === impl DestinationVerdict ===

impl DestinationVerdict {
    /// The verdict on one address under a route's `allow_private`: the rule the dialer
    /// applies to every resolved address ([`DestinationPolicy::check`]), with the range named
    /// also when it is allowed.
    pub fn of_address(ip: IpAddr, allow_private: bool) -> Self {
        let public_only = DestinationPolicy {
            allow_private: false,
        };
        match public_only.check(ip) {
            Ok(()) => Self::Public(ip),
            Err(private) if allow_private => Self::PrivateAllowed {
                ip,
                range: private.range,
            },
            Err(private) => Self::PrivateRefused {
                ip,
                range: private.range,
            },
        }
    }

    /// The verdict on a CONNECT host (an IP literal, bracketed or not, or a name).
    pub fn before_dial(host: &str, allow_private: bool) -> Self {
        match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => Self::of_address(ip, allow_private),
            Err(_) => Self::ResolvedAtDial { allow_private },
        }
    }

    /// Whether the destination is refused already.
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::PrivateRefused { .. })
    }
}
