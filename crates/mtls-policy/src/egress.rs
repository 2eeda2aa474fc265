//! Where a route's upstream connections leave from: the route's own `egress_bind`, else its
//! tenant's egress address, else the host's default source address.

use std::fmt;
use std::net::IpAddr;

use mtls_route_spec::RouteSpec;
use serde::Serialize;

/// Which setting chose a route's source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EgressOrigin {
    /// The route's own `egress_bind`.
    Route,
    /// The tenant's egress address (the route sets no `egress_bind`).
    Tenant,
    /// Neither: the operating system picks the source address.
    Default,
}

// === impl EgressOrigin ===

impl EgressOrigin {
    /// `route`, `tenant` or `default`: the stable name used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Route => "route",
            Self::Tenant => "tenant",
            Self::Default => "default",
        }
    }
}

impl fmt::Display for EgressOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The effective source address of a route's upstream connections, and where it came from.
///
/// ```
/// use mtls_policy::{EgressOrigin, EgressSource};
///
/// let tenant = Some("127.0.0.2".parse()?);
/// let of_tenant = EgressSource::of(None, tenant);
/// assert_eq!((of_tenant.address, of_tenant.origin), (tenant, EgressOrigin::Tenant));
/// assert_eq!(of_tenant.to_string(), "127.0.0.2 (tenant)");
///
/// let own = EgressSource::of(Some("127.0.0.9".parse()?), tenant);
/// assert_eq!(own.origin, EgressOrigin::Route);
/// assert_eq!(EgressSource::of(None, None).to_string(), "the host's default (default)");
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct EgressSource {
    /// The address bound before connecting; `None` lets the operating system choose.
    pub address: Option<IpAddr>,
    /// Which setting chose it.
    #[serde(rename = "from")]
    pub origin: EgressOrigin,
}

// === impl EgressSource ===

impl EgressSource {
    /// The host's default source address (no bind).
    pub const DEFAULT: Self = Self {
        address: None,
        origin: EgressOrigin::Default,
    };

    /// The rule: a route's `egress_bind` wins, else the tenant's egress address, else the
    /// host's default.
    pub fn of(route_bind: Option<IpAddr>, tenant_address: Option<IpAddr>) -> Self {
        match (route_bind, tenant_address) {
            (Some(address), _) => Self {
                address: Some(address),
                origin: EgressOrigin::Route,
            },
            (None, Some(address)) => Self {
                address: Some(address),
                origin: EgressOrigin::Tenant,
            },
            (None, None) => Self::DEFAULT,
        }
    }

    /// [`of`](Self::of) the route `spec`'s own `egress_bind` (whatever its kind) and its
    /// tenant's egress address.
    pub fn of_route(spec: &RouteSpec, tenant_address: Option<IpAddr>) -> Self {
        let route_bind = match spec {
            RouteSpec::Http(r) => r.egress_bind,
            RouteSpec::Tcp(r) => r.egress_bind,
            RouteSpec::Connect(r) => r.egress_bind,
            _ => None,
        };
        Self::of(route_bind, tenant_address)
    }
}

impl fmt::Display for EgressSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(address) => write!(f, "{address} ({})", self.origin),
            None => write!(f, "the host's default ({})", self.origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_beats_tenant_beats_default() {
        let route: IpAddr = "192.0.2.10".parse().unwrap();
        let tenant: IpAddr = "192.0.2.20".parse().unwrap();
        assert_eq!(
            EgressSource::of(Some(route), Some(tenant)),
            EgressSource {
                address: Some(route),
                origin: EgressOrigin::Route
            }
        );
        assert_eq!(
            EgressSource::of(None, Some(tenant)),
            EgressSource {
                address: Some(tenant),
                origin: EgressOrigin::Tenant
            }
        );
        assert_eq!(EgressSource::of(None, None), EgressSource::DEFAULT);
    }

    #[test]
    fn json_names_the_address_and_its_origin() {
        let source = EgressSource::of(None, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(
            serde_json::to_string(&source).unwrap(),
            r#"{"address":"127.0.0.2","from":"tenant"}"#
        );
        assert_eq!(
            serde_json::to_string(&EgressSource::DEFAULT).unwrap(),
            r#"{"address":null,"from":"default"}"#
        );
    }
}
