//! CONNECT routes: which `host:port` destinations a tenant may tunnel to.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::check::{check_egress_bind, check_list};
use crate::connect::ConnectPattern;
use crate::destination::non_public_range;
use crate::error::RouteSpecError;

/// The most patterns one CONNECT route may allow.
pub const MAX_CONNECT_PATTERNS: usize = 64;

/// A CONNECT route: HTTP CONNECT tunnels to destinations matching one of `allow`.
///
/// Destinations that resolve to loopback, private, link-local (cloud metadata) and similar
/// ranges ([`non_public`](crate::non_public)) are refused at connect time unless
/// `allow_private` is set; likewise a pattern that is itself such an IP address is refused by
/// [`check_private_patterns`](ConnectRoute::check_private_patterns) (part of
/// [`RouteSpec::validate_new`](crate::RouteSpec::validate_new), when a route is added)
/// without `allow_private`, since it could never be used. Deserialisation validates (but
/// does not run the add-time check, so routes stored before a range joined the table still
/// load); unknown JSON fields are refused.
///
/// ```
/// use mtls_route_spec::{ConnectRoute, RouteSpec, RouteSpecError};
///
/// let mut route = ConnectRoute::new(vec!["*.example.com:443".parse()?, "10.1.2.3:22".parse()?]);
/// let err = RouteSpec::from(route.clone()).validate_new().unwrap_err();
/// assert!(matches!(err, RouteSpecError::PrivateDestination { .. }));
/// route.allow_private = true;
/// RouteSpec::from(route.clone()).validate_new()?;
/// assert!(route.allowed("a.example.com", 443).is_some());
/// assert!(route.allowed("example.com", 443).is_none());
/// # Ok::<(), RouteSpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ConnectRouteRepr")]
pub struct ConnectRoute {
    /// Allowed destinations: 1 to 64 distinct patterns.
    pub allow: Vec<ConnectPattern>,
    /// Permit destinations in non-public ranges (see [`non_public_range`]).
    #[serde(default)]
    pub allow_private: bool,
    /// Source address for tunnelled connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_bind: Option<IpAddr>,
}

/// The JSON shape of a [`ConnectRoute`] before cross-field checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectRouteRepr {
    allow: Vec<ConnectPattern>,
    #[serde(default)]
    allow_private: bool,
    #[serde(default)]
    egress_bind: Option<IpAddr>,
}

// === impl ConnectRoute ===

impl ConnectRoute {
    /// A route allowing `allow`, public destinations only. Not validated.
    pub fn new(allow: Vec<ConnectPattern>) -> Self {
        Self {
            allow,
            allow_private: false,
            egress_bind: None,
        }
    }

    /// Checks the pattern count and duplicates, hand-built port ranges and `egress_bind`.
    pub fn validate(&self) -> Result<(), RouteSpecError> {
        check_list("allow", &self.allow, 1, MAX_CONNECT_PATTERNS, |p| {
            p.to_string()
        })?;
        for pattern in &self.allow {
            pattern
                .ports
                .check()
                .map_err(|reason| RouteSpecError::ConnectPattern {
                    value: pattern.to_string(),
                    reason,
                })?;
        }
        check_egress_bind(self.egress_bind)
    }

    /// The check only a route being added gets: without `allow_private`, no pattern may be
    /// an IP address in a non-public range (it could never be dialed).
    pub fn check_private_patterns(&self) -> Result<(), RouteSpecError> {
        if self.allow_private {
            return Ok(());
        }
        for pattern in &self.allow {
            if let Some(range) = pattern.host.ip().and_then(non_public_range) {
                return Err(RouteSpecError::PrivateDestination {
                    pattern: pattern.to_string(),
                    range,
                });
            }
        }
        Ok(())
    }

    /// The first pattern allowing `host:port`, if any. Only the route's own patterns are
    /// consulted: resolving `host` and applying [`non_public_range`] is the caller's job.
    pub fn allowed(&self, host: &str, port: u16) -> Option<&ConnectPattern> {
        self.allow.iter().find(|p| p.matches(host, port))
    }
}

impl TryFrom<ConnectRouteRepr> for ConnectRoute {
    type Error = RouteSpecError;

    fn try_from(repr: ConnectRouteRepr) -> Result<Self, Self::Error> {
        let route = Self {
            allow: repr.allow,
            allow_private: repr.allow_private,
            egress_bind: repr.egress_bind,
        };
        route.validate()?;
        Ok(route)
    }
}
