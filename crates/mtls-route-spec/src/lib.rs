//! Route specifications of multi-mtls-proxy: what one tenant's routes say, validated.
//!
//! A tenant's traffic is only ever routed by that tenant's own routes. Each route is a
//! [`RouteSpec`] of one of three kinds:
//!
//! - [`HttpRoute`]: `Host` pattern + path prefix to upstream URLs (reverse proxy);
//! - [`TcpRoute`]: SNI pattern to `host:port` upstreams (TLS terminated, bytes spliced);
//! - [`ConnectRoute`]: `host:port` patterns a client may open HTTP CONNECT tunnels to.
//!
//! Every value type ([`HostPattern`], [`PathPrefix`], [`UpstreamUrl`], [`HeaderSpec`],
//! [`HostPort`], [`PortRange`], [`ConnectPattern`]) parses from a string with `FromStr`,
//! displays in canonical form and (de)serialises as that string. Deserialising a
//! [`RouteSpec`] runs the same checks as [`RouteSpec::validate`], so a spec read back from
//! storage is always valid. Every rejection is a [`RouteSpecError`] naming the field, the
//! rejected value and the [`Reason`]. [`non_public_range`] is the table of address ranges
//! a CONNECT destination may only reach with `allow_private`; validation uses it for IP
//! patterns, and the data plane for the addresses a name resolves to.
//!
//! The crate is sync and pure: no I/O, no tokio. The registry and `tenantctl` validate
//! routes with it without pulling in a runtime. The types keep what a matcher needs parsed
//! ([`HostPattern::matches`], [`PathPrefix::matches`], [`ConnectPattern::matches`]) so that
//! matching does not allocate; the per-tenant matcher over many routes is `mtls-router`.
//!
//! # Example
//!
//! ```
//! use mtls_route_spec::{HttpRoute, RouteKind, RouteSpec, RouteSpecError};
//!
//! let mut route = HttpRoute::new(
//!     "api.acme.test".parse()?,
//!     vec!["https://10.0.0.5:8443".parse()?, "https://10.0.0.6:8443".parse()?],
//! );
//! route.path_prefix = "/v1".parse()?;
//! route.add_headers.push("x-env: prod".parse()?);
//! route.timeout = Some(std::time::Duration::from_secs(30));
//! let spec = RouteSpec::from(route);
//! spec.validate()?;
//! assert_eq!(spec.kind(), RouteKind::Http);
//! assert_eq!(spec.summary(), "http api.acme.test/v1 -> https://10.0.0.5:8443 (+1)");
//!
//! // Stored as JSON; reading it back validates again.
//! let json = serde_json::to_string(&spec)?;
//! assert!(json.starts_with(r#"{"kind":"http","host":"api.acme.test","path_prefix":"/v1""#));
//! assert!(json.contains(r#""timeout":"30s""#));
//! assert_eq!(serde_json::from_str::<RouteSpec>(&json)?, spec);
//!
//! // Bad values are refused with the field, the value and why.
//! let err = "ftp://x".parse::<mtls_route_spec::UpstreamUrl>().unwrap_err();
//! assert_eq!(err.to_string(), r#"upstream "ftp://x": scheme must be http or https"#);
//! let bad = r#"{"kind":"tcp","sni":"*.","upstreams":["10.0.0.7:5432"]}"#;
//! assert!(serde_json::from_str::<RouteSpec>(bad).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod connect;
mod connect_route;
mod destination;
mod error;
mod header;
mod host;
mod host_port;
mod http_route;
mod path;
mod spec;
mod tcp_route;
mod text_serde;
mod upstream;

pub use check::MAX_UPSTREAMS;
pub use connect::{ConnectPattern, PortRange};
pub use connect_route::{ConnectRoute, MAX_CONNECT_PATTERNS};
pub use destination::{
    DestinationPolicy, EmbeddedIpv4, NonPublic, PrivateDestination, SPECIAL_RANGES, SpecialRange,
    non_public, non_public_range, special_range,
};
pub use error::{Reason, RouteSpecError};
pub use header::{HeaderSpec, MAX_HEADER_VALUE_LEN, RESERVED_HEADERS};
pub use host::{HostPattern, MAX_HOST_NAME_LEN};
pub use host_port::HostPort;
pub use http_route::{HttpRoute, MAX_ADD_HEADERS, UpstreamTls};
/// An HTTP route's `escaped_slashes` setting, from `mtls-request-path`.
pub use mtls_request_path::EscapedSlashes;
pub use path::{MAX_PATH_PREFIX_LEN, PathPrefix};
pub use spec::{RouteKind, RouteSpec};
pub use tcp_route::TcpRoute;
pub use upstream::{Scheme, UpstreamUrl};
