//! The data-plane runtime of multi-mtls-proxy: the body of `mtlsd`.
//!
//! It reads one TOML config file ([`mtls_config::Config`]) and runs its listeners in one tokio runtime:
//!
//! - **server** mode: mTLS in, plain TCP to the target;
//! - **client** mode: plain TCP in, mTLS to the target;
//! - **bridge** mode: mTLS in, mTLS out;
//! - **gateway** mode: mTLS in from the tenants of the registry (`tenantctl`'s data dir);
//!   each connection's tenant comes from its certificate's URI SAN
//!   (`spiffe://<trust domain>/tenant/<id>`), is admitted against the current registry
//!   snapshot after every handshake (resumed ones too), and its HTTP requests, CONNECT
//!   tunnels or TCP bytes go only where that tenant's routes say.
//!
//! Gateway listeners poll the registry version (`[listener.gateway] poll_interval`, 250 ms by
//! default, off the runtime threads) and publish a new snapshot and route table at once on
//! change: routes added or removed apply to the next request, and open connections of a
//! suspended tenant or a revoked certificate are closed, all within a second. Per-tenant
//! limits (`max_connections`, `requests_per_second`) come from the registry; refusals are
//! logged and counted (`mtlsd_tenant_refusals_total{reason}`), and every request or TCP
//! connection gets one `access` log line (tenant, route, upstream, status, bytes, duration).
//!
//! After each inbound handshake the listener's ACL ([`mtls_identity::AclRules`]) decides on
//! the client certificate's CN, O, OU, DNS or URI SANs. Bytes are pumped by
//! [`mtls_splice`] with idle timeouts and half-close. Certificates are reloaded on file
//! change and SIGHUP behind `ArcSwap` (a bad new file is refused and the old one keeps
//! serving). `/healthz`, `/readyz`, `/certz` and Prometheus `/metrics` are served on their
//! own plain listener, bound to loopback by default. SIGTERM/SIGINT stop accepting and drain
//! open connections up to a deadline.
//!
//! rustls configs are built by [`mtls_tls`] with its aws-lc-rs provider passed explicitly;
//! TLS 1.2 is the floor (1.3 on request), and each listener has its own session cache.
//!
//! An outbound TLS side (client mode, bridge mode's upstream) may hold several client
//! identities (`[[listener.tls.identities]]`): a [`mtls_resolver::MultiIdentityResolver`]
//! sends, per handshake, the one whose issuer the upstream names in its CertificateRequest,
//! counted in `mtlsd_client_identity_selections_total{listener, identity, reason}`.
//! Gateway listeners may hold client identities too (`[[listener.gateway.identities]]`): an
//! HTTP route whose `upstream_tls.identity` names one presents it to its upstream when the
//! upstream asks for a client certificate. A route naming an identity the listener does not
//! hold is logged when the registry snapshot is compiled and its requests get a 502 naming
//! the identity (routes change at run time, so this is not a start-up error).
//!
//! # Example
//!
//! The config comes from `mtls-config` (validated without a runtime). Running it (inside a
//! tokio runtime): gateway listeners read the tenant registry through a
//! [`SnapshotSource`](mtls_registry::SnapshotSource) the caller provides; `mtlsd` gives the
//! SQLite file of the data dir:
//!
//! ```no_run
//! # async fn run(config: mtls_config::Config) -> Result<(), mtls_gateway::StartError> {
//! use std::sync::Arc;
//! use mtls_registry::SnapshotSource;
//! use mtls_registry_sqlite::SqliteSnapshotSource;
//!
//! let registry: Arc<dyn SnapshotSource> = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
//! let gateway = mtls_gateway::Gateway::bind(config, Some(registry)).await?;
//! for bound in gateway.local_addrs() {
//!     println!("{} {} {}", bound.kind, bound.name, bound.addr);
//! }
//! let summary = gateway.run().await?; // until SIGTERM/SIGINT, then drain
//! # let _ = summary; Ok(()) }
//! ```

mod admin;
mod conn;
mod error;
mod gateway;
mod handles;
mod listener;
mod logging;
mod metrics;
mod observe;
mod reload;
mod route_identities;
mod state;
mod tenancy;
mod tls;
mod tracker;

pub use error::{ErrorChain, StartError};
pub use gateway::{BoundAddr, Gateway, RunSummary, check};
pub use logging::init_logging;
pub use tenancy::RegistryStartError;
pub use tls::TlsError;

#[cfg(test)]
mod tests;
