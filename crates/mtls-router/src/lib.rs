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
//! rejected value and the [`Reason`].
//!
//! The crate is sync and pure: no I/O, no tokio. The types keep what a matcher needs parsed
//! ([`HostPattern::matches`], [`PathPrefix::matches`], [`ConnectPattern::matches`]) so that
//! matching does not allocate.
//!
//! [`RouteTable`] compiles every tenant's routes into per-tenant lookup tables and answers,
//! for (tenant, `Host`, path), (tenant, SNI) or (tenant, CONNECT `host:port`), which route
//! wins, without allocating. [`RouteTable::explain_http`] says why.
//!
//! # Example: a spec
//!
//! ```
//! use mtls_router::{HttpRoute, RouteKind, RouteSpec, RouteSpecError};
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
//! let err = "ftp://x".parse::<mtls_router::UpstreamUrl>().unwrap_err();
//! assert_eq!(err.to_string(), r#"upstream "ftp://x": scheme must be http or https"#);
//! let bad = r#"{"kind":"tcp","sni":"*.","upstreams":["10.0.0.7:5432"]}"#;
//! assert!(serde_json::from_str::<RouteSpec>(bad).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: matching
//!
//! ```
//! use mtls_identity::TenantId;
//! use mtls_router::{ConnectRoute, HttpRoute, NoRoute, RouteSpec, RouteTable};
//!
//! let acme: TenantId = "acme".parse()?;
//! let other: TenantId = "other".parse()?;
//! let http = |host: &str, prefix: &str| -> Result<RouteSpec, Box<dyn std::error::Error>> {
//!     let mut route = HttpRoute::new(host.parse()?, vec!["http://10.0.0.5:8080".parse()?]);
//!     route.path_prefix = prefix.parse()?;
//!     Ok(route.into())
//! };
//! let table = RouteTable::build([
//!     (acme.clone(), "r-1", http("*.acme.test", "/")?),
//!     (acme.clone(), "r-2", http("api.acme.test", "/v1")?),
//!     (acme.clone(), "r-3", ConnectRoute::new(vec!["db.acme.test:5432".parse()?]).into()),
//!     (other.clone(), "r-4", http("api.other.test", "/")?),
//! ]);
//!
//! // Exact host and longest prefix win; port, case, trailing dot and query don't matter.
//! let hit = table.match_http(&acme, "API.acme.test:8443", "/v1/items?page=2")?;
//! assert_eq!(*hit.key, "r-2");
//! assert_eq!(*table.match_http(&acme, "api.acme.test", "/v2")?.key, "r-1");
//! // A tenant never reaches another tenant's routes.
//! assert_eq!(table.match_http(&acme, "api.other.test", "/").unwrap_err(), NoRoute::NoHostMatch);
//! // CONNECT: which route allows the destination (the address check comes after DNS).
//! let tunnel = table.match_connect(&acme, "db.acme.test", 5432)?;
//! assert_eq!((*tunnel.key, tunnel.allow_private()), ("r-3", false));
//! // Explain: the winner, then what it beat and why.
//! let why = table.explain_http(&acme, "api.acme.test", "/v1");
//! assert_eq!(why.to_string(), "r-2 api.acme.test/v1: wins (exact host, 1 prefix segment)\n\
//!     r-1 *.acme.test/: less specific host (wildcard of 3 labels, 0 prefix segments)\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod connect;
mod connect_route;
mod error;
mod header;
mod host;
mod host_port;
mod http_route;
mod path;
mod spec;
mod table;
mod tcp_route;
mod upstream;

pub use connect::{ConnectPattern, PortRange, non_public_range};
pub use connect_route::{ConnectRoute, MAX_CONNECT_PATTERNS};
pub use error::{Reason, RouteSpecError};
pub use header::{HeaderSpec, MAX_HEADER_VALUE_LEN, RESERVED_HEADERS};
pub use host::HostPattern;
pub use host_port::HostPort;
pub use http_route::{HttpRoute, MAX_ADD_HEADERS, MAX_UPSTREAMS, UpstreamTls};
pub use path::{MAX_PATH_PREFIX_LEN, PathPrefix};
pub use spec::{RouteKind, RouteSpec};
pub use table::{
    ConnectMatch, HostSpecificity, HttpCandidate, HttpExplanation, HttpMatch, HttpRank, NoRoute,
    RouteMiss, RouteTable, TcpMatch, Verdict,
};
pub use tcp_route::TcpRoute;
pub use upstream::{Scheme, UpstreamUrl};
