//! The per-tenant route matcher of multi-mtls-proxy.
//!
//! A tenant's traffic is only ever routed by that tenant's own routes. [`RouteTable`]
//! compiles every tenant's validated route specifications (`mtls_route_spec::RouteSpec`)
//! into per-tenant lookup tables and answers, for (tenant, `Host`, path), (tenant, SNI) or
//! (tenant, CONNECT `host:port`), which route wins, without allocating.
//! [`RouteTable::explain_http`] says why: every candidate in rank order and what each loser
//! lost on.
//!
//! The crate is sync and pure: no I/O, no tokio. What a route says, and its validation,
//! live in `mtls-route-spec`; this crate only ranks and looks up.
//!
//! # Example
//!
//! ```
//! use mtls_identity::TenantId;
//! use mtls_route_spec::{ConnectRoute, HttpRoute, RouteSpec};
//! use mtls_router::{NoRoute, RouteTable};
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

mod table;

pub use table::{
    ConnectMatch, HostSpecificity, HttpCandidate, HttpExplanation, HttpMatch, HttpRank, NoRoute,
    RouteMiss, RouteTable, TcpMatch, Verdict,
};
