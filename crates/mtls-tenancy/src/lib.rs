//! Gateway mode: tenant identity in, per-tenant routes out, live from the registry.
//!
//! # Example
//!
//! A gateway listener's [`Tenancy`] over a fresh SQLite registry with one tenant and one
//! HTTP route (no socket is opened):
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use mtls_metrics::Metrics;
//! use mtls_registry::{Actor, Store, TenantLimits};
//! use mtls_registry_sqlite::{SqliteSnapshotSource, SqliteStore};
//! use mtls_route_spec::HttpRoute;
//! use mtls_tenancy::Tenancy;
//!
//! let dir = tempfile::tempdir()?;
//! let text = format!(
//!     "data_dir = {:?}\n[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:0\"\n",
//!     dir.path(),
//! );
//! let config = mtls_config::Config::from_toml(&text, dir.path().join("mtlsd.toml"))?;
//! let listener = &config.listeners()[0];
//! let mtls_config::ListenerMode::Gateway { gateway, .. } = &listener.mode else {
//!     unreachable!("a gateway listener")
//! };
//!
//! // What `tenantctl` does: a registry with tenant `a` and its route to `a.test`.
//! let actor = Actor::new("cli:example")?;
//! let store = SqliteStore::create(config.registry_path(), &"gw.test".parse()?, &actor)?;
//! let a = "a".parse()?;
//! store.create_tenant(&actor, &a, "Tenant A", TenantLimits::default())?;
//! let mut route = HttpRoute::new("a.test".parse()?, vec!["http://127.0.0.1:9".parse()?]);
//! route.allow_private = true; // a loopback upstream is refused otherwise
//! let added = store.add_route(&actor, &a, route.into())?;
//!
//! // What the gateway does at start: the first view comes from the registry.
//! let source = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
//! let tenancy = Tenancy::open(
//!     listener,
//!     *gateway,
//!     config.registry_path(),
//!     Some(source),
//!     Arc::new(Metrics::new()),
//!     None,
//! )?;
//! let view = tenancy.current();
//! assert_eq!(view.snapshot().tenant_count(), 1);
//! let found = view.policy().route_http(&a, "a.test", "/").expect("a route");
//! assert_eq!(*found.key, added.id);
//! # Ok(()) }
//! ```
//!
//! This crate owns, per gateway listener:
//!
//! - the registry side ([`Tenancy`]): the registry's
//!   [`SnapshotSource`](mtls_registry::SnapshotSource) (given by the caller; `mtlsd` opens the
//!   SQLite registry of the data dir, which reopens the file when it is replaced) and the
//!   current [`View`] (snapshot + compiled route table + HTTP route targets + per-tenant
//!   limiters and metric handles, published in one `watch` channel);
//! - the registry watcher ([`watcher::run`]), which polls the registry version off the
//!   runtime threads and publishes a new view on change; nothing on the handshake or request
//!   path touches the database. Views only move forward (registry version and route
//!   identities), whoever publishes them, and a registry unreadable for longer than
//!   `registry_staleness` is reported ([`Tenancy::stale_registry`]) while the last snapshot
//!   keeps serving;
//! - serving one connection after its handshake ([`handle`]): admission with
//!   [`mtls_policy::admit`] (resumed sessions included), per-tenant limits
//!   (`max_connections`, `requests_per_second`), HTTP requests, CONNECT tunnels and TCP
//!   routes of the tenant, one `access` log line each, and closing the connection as soon as
//!   a new snapshot refuses its tenant or serial;
//! - the client identities HTTP routes may present to their upstreams
//!   ([`RouteIdentities`]).
//!
//! It does not bind sockets, run TLS handshakes, load TLS material from files, reload
//! certificates or serve the admin endpoints: that is the runtime's (`mtls-gateway`). The
//! decisions (admission, route, destination verdict) are [`mtls_policy`]'s, HTTP forwarding
//! [`mtls_http_proxy`]'s, dialing [`mtls_egress`]'s, byte pumping [`mtls_splice`]'s and the
//! metric families [`mtls_metrics`]'.

mod chain;
mod conn;
mod error;
mod held;
mod http;
mod limiter;
mod revocable;
mod route_identities;
mod session;
mod targets;
mod tcp;
mod tenancy;
mod view;
pub mod watcher;

pub use conn::handle;
pub use error::RegistryStartError;
pub use route_identities::RouteIdentities;
pub use session::{ListenerHold, ServerTls};
pub use tenancy::{StaleRegistry, Tenancy};
pub use view::View;

#[cfg(test)]
mod publish_tests;
#[cfg(test)]
mod tests;
