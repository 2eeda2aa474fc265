//! TCP routes: a TLS server name to upstream addresses.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::check::{MAX_UPSTREAMS, check_egress_bind, check_list};
use crate::error::RouteSpecError;
use crate::host::HostPattern;
use crate::host_port::HostPort;

/// A TCP route: TLS connections whose SNI matches `sni` are spliced to `upstreams`,
/// round-robin, as plain TCP.
///
/// Deserialisation validates; unknown JSON fields are refused.
///
/// ```
/// use mtls_route_spec::{RouteSpec, TcpRoute};
///
/// let route = TcpRoute::new("db.acme.test".parse()?, vec!["10.0.0.7:5432".parse()?]);
/// route.validate()?;
/// assert_eq!(RouteSpec::from(route).summary(), "tcp db.acme.test -> 10.0.0.7:5432");
/// # Ok::<(), mtls_route_spec::RouteSpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TcpRouteRepr")]
pub struct TcpRoute {
    /// Which server names this route claims: a DNS name or `*.suffix`, never an IP address.
    pub sni: HostPattern,
    /// Where connections go: 1 to 32 distinct addresses.
    pub upstreams: Vec<HostPort>,
    /// Source address for upstream connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_bind: Option<IpAddr>,
    /// Permit upstreams in non-public ranges ([`non_public`](crate::non_public)): checked on
    /// every resolved address at dial time, and on IP literals when the route is added
    /// ([`RouteSpec::validate_new`](crate::RouteSpec::validate_new)). Absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private: bool,
}

/// The JSON shape of a [`TcpRoute`] before cross-field checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpRouteRepr {
    sni: HostPattern,
    upstreams: Vec<HostPort>,
    #[serde(default)]
    egress_bind: Option<IpAddr>,
    #[serde(default)]
    allow_private: bool,
}

// === impl TcpRoute ===

impl TcpRoute {
    /// A route for `sni` to `upstreams`. Not validated.
    pub fn new(sni: HostPattern, upstreams: Vec<HostPort>) -> Self {
        Self {
            sni,
            upstreams,
            egress_bind: None,
            allow_private: false,
        }
    }

    /// Checks that `sni` is not an IP address, the upstream count and duplicates, and
    /// `egress_bind`.
    pub fn validate(&self) -> Result<(), RouteSpecError> {
        if self.sni.ip().is_some() {
            return Err(RouteSpecError::SniIpLiteral {
                value: self.sni.to_string(),
            });
        }
        check_list("upstreams", &self.upstreams, 1, MAX_UPSTREAMS, |u| u)?;
        check_egress_bind(self.egress_bind)
    }

    /// The check only a route being added gets: without `allow_private`, no upstream may be
    /// an IP address in a non-public range. Not part of [`validate`](Self::validate), so
    /// routes stored before the check existed still load (the dialer refuses them).
    pub fn check_private_upstreams(&self) -> Result<(), RouteSpecError> {
        for upstream in &self.upstreams {
            crate::destination::check_upstream_literal(
                upstream,
                upstream.ip(),
                self.allow_private,
            )?;
        }
        Ok(())
    }
}

impl TryFrom<TcpRouteRepr> for TcpRoute {
    type Error = RouteSpecError;

    fn try_from(repr: TcpRouteRepr) -> Result<Self, Self::Error> {
        let route = Self {
            sni: repr.sni,
            upstreams: repr.upstreams,
            egress_bind: repr.egress_bind,
            allow_private: repr.allow_private,
        };
        route.validate()?;
        Ok(route)
    }
}
