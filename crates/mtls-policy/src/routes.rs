//! The route side of a decision: the tenant's route table compiled from a snapshot, and the
//! lookups the gateway makes per request.

use std::borrow::Cow;
use std::net::IpAddr;

use mtls_identity::TenantId;
use mtls_registry::{RouteId, Snapshot};
use mtls_request_path::{NormalizedPath, PathError};
use mtls_route_spec::DestinationPolicy;
use mtls_router::{ConnectMatch, HttpExplanation, HttpMatch, NoRoute, RouteTable, TcpMatch};

use crate::egress::EgressSource;

/// One registry snapshot and the route table compiled from it: what every decision reads.
/// Immutable; build one per snapshot and share it (the gateway publishes it in its view).
///
/// [`new`](Self::new) compiles every tenant; [`with_changes`](Self::with_changes) compiles
/// only the tenants a change touched and shares the rest with the policy it starts from
/// (persistent maps throughout), with the same result.
#[derive(Debug, Clone)]
pub struct Policy {
    snapshot: Snapshot,
    table: RouteTable<RouteId>,
}

// === impl Policy ===

impl Policy {
    /// Compiles `snapshot`'s routes, every tenant's, into one table (each tenant's routes
    /// are only ever looked up inside its own part).
    pub fn new(snapshot: Snapshot) -> Self {
        let routes = snapshot.tenants().flat_map(|(tenant, _)| {
            let records = snapshot.routes(tenant).iter();
            records.map(|r| (tenant.clone(), r.id.clone(), r.spec.clone()))
        });
        let table = RouteTable::build(routes);
        Self { table, snapshot }
    }

    /// The policy of `snapshot`, compiled from `self` (the policy of an earlier snapshot)
    /// by recompiling only the `touched` tenants' route table parts; every other tenant's
    /// part is shared with `self`. `snapshot` must differ from `self`'s snapshot in the
    /// touched tenants only (as after [`Snapshot::apply`] of a delta listing them); the
    /// result then equals [`Policy::new(snapshot)`](Self::new). Costs the touched tenants'
    /// routes.
    pub fn with_changes<'t>(
        &self,
        snapshot: Snapshot,
        touched: impl IntoIterator<Item = &'t TenantId>,
    ) -> Self {
        let mut table = self.table.clone();
        for tenant in touched {
            let routes = snapshot.routes(tenant);
            let compiled = routes.iter().map(|r| (r.id.clone(), r.spec.clone()));
            table.replace_tenant(tenant, compiled);
        }
        Self { snapshot, table }
    }

    /// Where `tenant`'s route `route` makes its upstream connections from: its
    /// `egress_bind`, else the tenant's egress address, else the host's default
    /// ([`EgressSource::of_route`]). A look through the tenant's own routes, allocating
    /// nothing; a route the snapshot does not hold gets the default.
    pub fn egress_of(&self, tenant: &TenantId, route: &RouteId) -> EgressSource {
        let address = self.snapshot.tenant(tenant).and_then(|t| t.egress_address);
        self.snapshot
            .routes(tenant)
            .iter()
            .find(|r| r.id == *route)
            .map_or(EgressSource::DEFAULT, |r| {
                EgressSource::of_route(&r.spec, address)
            })
    }

    /// The snapshot this policy was compiled from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The compiled route table.
    pub fn table(&self) -> &RouteTable<RouteId> {
        &self.table
    }

    /// How the gateway routes an HTTP request for `host` and `path` (the request's path,
    /// without its query): the path is normalised ([`NormalizedPath::parse`]: dot segments,
    /// unreserved escapes, repeated slashes; escaped slashes kept for now), the route is
    /// matched on the normalised path with [`route_http`](Self::route_http), and the winning
    /// route's `escaped_slashes` decides whether an escaped slash in the path is refused.
    /// On success, the normalised path is what is forwarded (borrowed when unchanged).
    ///
    /// Because a path without escaped slashes normalises the same whatever the setting, a
    /// route that refuses them is matched exactly as if they were refused before routing,
    /// and a route that keeps them only receives paths its own prefix matched.
    ///
    /// The asterisk form `*` (`OPTIONS * HTTP/1.1`) is not a path and is routed as it is:
    /// only a route for `/` matches it.
    pub fn route_http_request<'p, 'r>(
        &'p self,
        tenant: &TenantId,
        host: &str,
        path: &'r str,
    ) -> Result<HttpRouted<'p, 'r>, HttpRefusal<'p, 'r>> {
        if path == "*" {
            return match self.route_http(tenant, host, path) {
                Ok(matched) => Ok(HttpRouted {
                    matched,
                    path: Cow::Borrowed(path),
                }),
                Err(miss) => Err(HttpRefusal::NoRoute {
                    miss,
                    path: Cow::Borrowed(path),
                }),
            };
        }
        let normalized = NormalizedPath::parse(path).map_err(HttpRefusal::BadPath)?;
        let matched = match self.route_http(tenant, host, normalized.as_str()) {
            Ok(matched) => matched,
            Err(miss) => {
                return Err(HttpRefusal::NoRoute {
                    miss,
                    path: normalized.into_cow(),
                });
            }
        };
        if let Err(error) = normalized.allow(matched.route.escaped_slashes) {
            return Err(HttpRefusal::EscapedSlash {
                matched,
                error,
                path: normalized.into_cow(),
            });
        }
        Ok(HttpRouted {
            matched,
            path: normalized.into_cow(),
        })
    }

    /// The tenant's HTTP route for `host` and `path` as given (most specific host, then
    /// longest path prefix, then the oldest route). Allocates nothing. The gateway routes
    /// requests with [`route_http_request`](Self::route_http_request), which normalises
    /// the path first.
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

/// An HTTP request routed by [`Policy::route_http_request`].
#[derive(Debug)]
pub struct HttpRouted<'p, 'r> {
    /// The winning route.
    pub matched: HttpMatch<'p, RouteId>,
    /// The normalised path: what was matched, and what is forwarded (with the request's
    /// query, unchanged). Borrowed when normalising changed nothing.
    pub path: Cow<'r, str>,
}

/// Why [`Policy::route_http_request`] routes a request nowhere.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpRefusal<'p, 'r> {
    /// The path is refused before routing (a backslash, a bad escape, a control byte, …):
    /// the gateway answers 400 `bad_path`.
    BadPath(PathError),
    /// No route of the tenant matches the normalised path: 404 `no_route`.
    NoRoute {
        /// Why nothing matched.
        miss: NoRoute,
        /// The normalised path that was matched.
        path: Cow<'r, str>,
    },
    /// The path holds an escaped slash and the winning route refuses them: 400 `bad_path`.
    EscapedSlash {
        /// The route that won and refuses escaped slashes.
        matched: HttpMatch<'p, RouteId>,
        /// Which escaped slash, and where in the raw path.
        error: PathError,
        /// The normalised path (escaped slashes kept) that was matched.
        path: Cow<'r, str>,
    },
}

// === impl HttpRefusal ===

impl HttpRefusal<'_, '_> {
    /// The refusal of the path, for the two 400 `bad_path` cases.
    pub fn path_error(&self) -> Option<PathError> {
        match self {
            Self::BadPath(error) | Self::EscapedSlash { error, .. } => Some(*error),
            Self::NoRoute { .. } => None,
        }
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
