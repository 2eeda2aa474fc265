//! The whole decision for one request, as `tenantctl explain` prints it: admission, then the
//! route (with the candidates it beat), the destination verdict and the upstream identity.

use mtls_registry::RouteId;
use mtls_request_path::{PathError, split_query};
use mtls_route_spec::UpstreamTls;
use mtls_router::{HttpExplanation, NoRoute, TcpMatch};
use time::OffsetDateTime;

use crate::admission::{Admitted, Refused, admit};
use crate::egress::EgressSource;
use crate::routes::{ConnectDecision, HttpRefusal, Policy};

/// What a client asks of the gateway once admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// An HTTP request for `host` and `path`.
    Http {
        /// The request's host (authority or `Host` header), port included if sent.
        host: &'a str,
        /// The request path as sent, a query allowed (it is split off and not normalised).
        path: &'a str,
    },
    /// An HTTP `CONNECT host:port`.
    Connect {
        /// The target host (a name or an IP literal).
        host: &'a str,
        /// The target port.
        port: u16,
    },
    /// A TCP connection routed by its TLS server name.
    Tcp {
        /// The SNI.
        sni: &'a str,
    },
}

/// The gateway's decision for one request.
#[derive(Debug)]
pub struct Decision<'p> {
    /// Admitted (who) or refused (why). Nothing else is decided for a refused connection.
    pub admission: Result<Admitted<'p>, Refused>,
    /// The route decision; `None` when admission refused.
    pub route: Option<RouteDecision<'p>>,
    /// Where the winning route's upstream connections leave from (its `egress_bind`, else
    /// the tenant's egress address, else the host's default; see [`Policy::egress_of`]).
    /// `None` when admission refused or no route wins.
    pub egress: Option<EgressSource>,
}

/// The route part of a [`Decision`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RouteDecision<'p> {
    /// HTTP: the path as normalised (or refused), the winner (or why none) and every
    /// candidate.
    Http {
        /// The request path, normalised as the gateway does before routing.
        path: PathDecision,
        /// The matcher's explanation for the normalised path; `outcome` is what the gateway
        /// acts on unless `path.refusal` refuses the request. `None` when the path is refused
        /// before routing.
        explanation: Option<HttpExplanation<'p, RouteId>>,
        /// The client identity the winning route presents upstream.
        upstream_identity: Option<UpstreamIdentity<'p>>,
    },
    /// CONNECT: the allowing route and the destination verdict, or why none allows it.
    Connect(Result<ConnectDecision<'p>, NoRoute>),
    /// TCP by SNI.
    Tcp(Result<TcpMatch<'p, RouteId>, NoRoute>),
}

// === impl RouteDecision ===

impl RouteDecision<'_> {
    /// The id of the route the gateway acts on, if one wins: for HTTP, the matcher's winner
    /// unless the path is refused (before routing, or an escaped slash the winner refuses).
    pub fn winner(&self) -> Option<&RouteId> {
        match self {
            Self::Http {
                path, explanation, ..
            } => explanation
                .as_ref()
                .filter(|_| path.refusal.is_none())
                .and_then(|e| e.outcome.as_ref().ok())
                .map(|m| m.key),
            Self::Connect(decision) => decision.as_ref().ok().map(|d| d.matched.key),
            Self::Tcp(matched) => matched.as_ref().ok().map(|m| m.key),
        }
    }
}

/// The path part of an HTTP decision: what the gateway routes on and forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathDecision {
    /// The path as requested, query split off.
    pub raw: String,
    /// The query, forwarded unchanged.
    pub query: Option<String>,
    /// The normalised path the route is matched on (escaped slashes kept), or why the path
    /// is refused before routing.
    pub normalized: Result<String, PathError>,
    /// Why the gateway answers 400 `bad_path`, if it does: a refusal before routing, or an
    /// escaped slash on a winning route that refuses them.
    pub refusal: Option<PathError>,
}

/// Which client certificate an HTTP route presents to its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamIdentity<'p> {
    /// A plain HTTP upstream: no TLS, no certificate.
    PlainHttp,
    /// The named identity of the listener, when the upstream asks for one.
    Named(&'p str),
    /// No identity named: no certificate unless the upstream asks for one the gateway holds.
    OnlyIfAsked,
}

// === impl UpstreamIdentity ===

impl<'p> UpstreamIdentity<'p> {
    /// The identity of a route with these upstream settings.
    pub fn of_route(tls: Option<&'p UpstreamTls>, https: bool) -> Self {
        match (https, tls.and_then(|t| t.identity.as_deref())) {
            (false, _) => Self::PlainHttp,
            (true, Some(name)) => Self::Named(name),
            (true, None) => Self::OnlyIfAsked,
        }
    }

    /// The identity's name, if the route names one.
    pub fn name(&self) -> Option<&'p str> {
        match self {
            Self::Named(name) => Some(name),
            _ => None,
        }
    }
}

// === impl Policy ===

impl Policy {
    /// The whole decision for `request` from the client certificate `leaf_der` (verified by
    /// the handshake) at `now`: [`admit`], then the same route lookups the gateway makes.
    pub fn decide(
        &self,
        leaf_der: Option<&[u8]>,
        now: OffsetDateTime,
        request: Request<'_>,
    ) -> Decision<'_> {
        let admission = admit(self.snapshot(), leaf_der, now);
        let route = admission.as_ref().ok().map(|admitted| {
            let tenant = &admitted.tenant;
            match request {
                Request::Http { host, path } => {
                    let (raw, query) = split_query(path);
                    // The gateway's own lookup decides the path; the explanation adds the
                    // candidates for the same normalised path.
                    let (normalized, refusal) = match self.route_http_request(tenant, host, raw) {
                        Ok(routed) => (Ok(routed.path.into_owned()), None),
                        Err(HttpRefusal::BadPath(error)) => (Err(error), Some(error)),
                        Err(HttpRefusal::NoRoute { path, .. }) => (Ok(path.into_owned()), None),
                        Err(HttpRefusal::EscapedSlash { error, path, .. }) => {
                            (Ok(path.into_owned()), Some(error))
                        }
                    };
                    let explanation = normalized
                        .as_deref()
                        .ok()
                        .map(|normalized| self.explain_http(tenant, host, normalized));
                    let upstream_identity = explanation
                        .as_ref()
                        .and_then(|e| e.outcome.as_ref().ok())
                        .map(|m| {
                            let https = m.route.upstreams.iter().any(|u| u.is_https());
                            UpstreamIdentity::of_route(m.route.upstream_tls.as_ref(), https)
                        });
                    RouteDecision::Http {
                        path: PathDecision {
                            raw: raw.to_owned(),
                            query: query.map(str::to_owned),
                            normalized,
                            refusal,
                        },
                        explanation,
                        upstream_identity,
                    }
                }
                Request::Connect { host, port } => {
                    RouteDecision::Connect(self.route_connect(tenant, host, port))
                }
                Request::Tcp { sni } => RouteDecision::Tcp(self.route_tcp(tenant, sni)),
            }
        });
        let egress = admission.as_ref().ok().and_then(|admitted| {
            let winner = route.as_ref().and_then(RouteDecision::winner)?;
            Some(self.egress_of(&admitted.tenant, winner))
        });
        Decision {
            admission,
            route,
            egress,
        }
    }
}
