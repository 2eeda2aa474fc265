//! [`RouteSpec`]: one route of one tenant, of any kind.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::connect_route::ConnectRoute;
use crate::error::RouteSpecError;
use crate::http_route::HttpRoute;
use crate::tcp_route::TcpRoute;

/// The kind of a route, written `http`, `tcp` or `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RouteKind {
    /// Reverse-proxied HTTP, by host and path.
    Http,
    /// TCP splice after TLS termination, by SNI.
    Tcp,
    /// HTTP CONNECT tunnels to allowed destinations.
    Connect,
}

// === impl RouteKind ===

impl RouteKind {
    /// `"http"`, `"tcp"` or `"connect"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
            Self::Connect => "connect",
        }
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RouteKind {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "http" => Ok(Self::Http),
            "tcp" => Ok(Self::Tcp),
            "connect" => Ok(Self::Connect),
            _ => Err(RouteSpecError::UnknownKind {
                value: text.to_owned(),
            }),
        }
    }
}

/// One route of one tenant. In JSON the kind is a `"kind"` field next to the route's own
/// fields: `{"kind":"http","host":"api.acme.test","upstreams":["https://10.0.0.5:8443"]}`.
///
/// Deserialising validates, so a spec read back from storage is always valid.
///
/// A spec whose `"kind"` is its first field (as every spec serialised here is) is read in one
/// pass; one with the kind later costs a copy of its fields first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum RouteSpec {
    /// See [`HttpRoute`].
    Http(HttpRoute),
    /// See [`TcpRoute`].
    Tcp(TcpRoute),
    /// See [`ConnectRoute`].
    Connect(ConnectRoute),
}

// === impl RouteSpec ===

impl RouteSpec {
    /// The kind of route.
    pub fn kind(&self) -> RouteKind {
        match self {
            Self::Http(_) => RouteKind::Http,
            Self::Tcp(_) => RouteKind::Tcp,
            Self::Connect(_) => RouteKind::Connect,
        }
    }

    /// Cross-field checks of the route; see each kind's `validate`. Values that went through
    /// `FromStr` or deserialisation are already valid on their own.
    pub fn validate(&self) -> Result<(), RouteSpecError> {
        match self {
            Self::Http(route) => route.validate(),
            Self::Tcp(route) => route.validate(),
            Self::Connect(route) => route.validate(),
        }
    }

    /// [`validate`](Self::validate), plus what only a route being **added** is held to: an
    /// HTTP or TCP upstream, or a CONNECT pattern, that is an IP address in a non-public range
    /// needs `allow_private`, and an HTTP path prefix must be one a normalised request path
    /// can match. Routes read
    /// back from storage are not, so ones stored before this check still load; the dialer
    /// refuses their non-public addresses at dial time anyway.
    ///
    /// ```
    /// use mtls_route_spec::{RouteSpec, RouteSpecError, TcpRoute};
    ///
    /// let mut route = TcpRoute::new("db.acme.test".parse()?, vec!["127.0.0.1:5432".parse()?]);
    /// let err = RouteSpec::from(route.clone()).validate_new().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "upstream \"127.0.0.1:5432\": loopback (127.0.0.0/8) address; \
    ///      set allow_private (tenantctl: --allow-private) to permit it"
    /// );
    /// route.allow_private = true;
    /// RouteSpec::from(route).validate_new()?;
    /// # Ok::<(), RouteSpecError>(())
    /// ```
    pub fn validate_new(&self) -> Result<(), RouteSpecError> {
        self.validate()?;
        match self {
            Self::Http(route) => route
                .check_prefix_matchable()
                .and_then(|()| route.check_private_upstreams()),
            Self::Tcp(route) => route.check_private_upstreams(),
            Self::Connect(route) => route.check_private_patterns(),
        }
    }

    /// True when both specs would claim the same traffic within one tenant, so the second
    /// must not be added: `http` routes with the same host pattern and the same path prefix;
    /// `tcp` routes with the same SNI pattern; `connect` routes sharing an identical allow
    /// pattern. Routes of different kinds never conflict. Symmetric.
    ///
    /// Overlaps that a matcher resolves by specificity (`*.example.com` next to
    /// `api.example.com`, `/api` next to `/api/v1`, overlapping port ranges) are not conflicts.
    pub fn conflicts_with(&self, other: &RouteSpec) -> bool {
        match (self, other) {
            (Self::Http(a), Self::Http(b)) => a.host == b.host && a.path_prefix == b.path_prefix,
            (Self::Tcp(a), Self::Tcp(b)) => a.sni == b.sni,
            (Self::Connect(a), Self::Connect(b)) => a.allow.iter().any(|p| b.allow.contains(p)),
            _ => false,
        }
    }

    /// A one-line summary for listings, e.g.
    /// `http api.acme.test/v1 -> https://10.0.0.5:8443 (+1)`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let egress = match self {
            Self::Http(r) => {
                let _ = write!(out, "http {}{} -> ", r.host, r.path_prefix);
                push_list(&mut out, &r.upstreams, 1);
                if r.escaped_slashes == mtls_request_path::EscapedSlashes::Keep {
                    out.push_str(" [escaped slashes kept]");
                }
                if r.allow_private {
                    out.push_str(" [private allowed]");
                }
                r.egress_bind
            }
            Self::Tcp(r) => {
                let _ = write!(out, "tcp {} -> ", r.sni);
                push_list(&mut out, &r.upstreams, 1);
                if r.allow_private {
                    out.push_str(" [private allowed]");
                }
                r.egress_bind
            }
            Self::Connect(r) => {
                out.push_str("connect ");
                push_list(&mut out, &r.allow, 3);
                if r.allow_private {
                    out.push_str(" [private allowed]");
                }
                r.egress_bind
            }
        };
        if let Some(ip) = egress {
            let _ = write!(out, " via {ip}");
        }
        out
    }
}

impl From<HttpRoute> for RouteSpec {
    fn from(route: HttpRoute) -> Self {
        Self::Http(route)
    }
}

impl From<TcpRoute> for RouteSpec {
    fn from(route: TcpRoute) -> Self {
        Self::Tcp(route)
    }
}

impl From<ConnectRoute> for RouteSpec {
    fn from(route: ConnectRoute) -> Self {
        Self::Connect(route)
    }
}

// A spec shared by the registry's records and the tables compiled from them
// (`RouteRecord::spec` is an `Arc<RouteSpec>`): `route.into()` makes one from any kind.

impl From<HttpRoute> for Arc<RouteSpec> {
    fn from(route: HttpRoute) -> Self {
        Arc::new(RouteSpec::Http(route))
    }
}

impl From<TcpRoute> for Arc<RouteSpec> {
    fn from(route: TcpRoute) -> Self {
        Arc::new(RouteSpec::Tcp(route))
    }
}

impl From<ConnectRoute> for Arc<RouteSpec> {
    fn from(route: ConnectRoute) -> Self {
        Arc::new(RouteSpec::Connect(route))
    }
}

/// Writes the first `shown` items comma-separated, then `(+n)` for the rest.
fn push_list<T: fmt::Display>(out: &mut String, items: &[T], shown: usize) {
    for (i, item) in items.iter().take(shown).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{item}");
    }
    if items.len() > shown {
        let _ = write!(out, " (+{})", items.len() - shown);
    }
}

mod de;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
