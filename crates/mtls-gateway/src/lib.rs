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
//! open connections (WebSockets and CONNECT tunnels included) up to a deadline.
//!
//! A connection holds a `max_connections` slot only once its inbound handshake is done;
//! during the handshake it counts against `max_handshakes` and `max_handshakes_per_source`
//! (closed at once over the per-source cap), so clients that never finish a handshake
//! cannot take the slots of established connections.
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
//! What lives where:
//!
//! - this crate: the runtime. `gateway` binds, serves and drains; `listener` accepts;
//!   `conn` runs the tunnel modes (server, client, bridge) and hands gateway connections to
//!   [`mtls_tenancy::handle`] after their handshake, with the connection's hold on the
//!   listener (`admission`: handshake caps per listener and per source, then the
//!   `max_connections` slot, drain guard and active-connections gauge, kept for as long as
//!   an upgraded stream or CONNECT tunnel of the connection lives); `state` holds each listener's TLS
//!   material and reloads it (`reload`: file watcher and SIGHUP; `tls`: loading from
//!   files); `admin` serves the health, certificate and metrics endpoints; `tracker` counts
//!   live connections for the drain; `error` is [`StartError`] and [`ErrorChain`];
//! - [`mtls_tenancy`]: gateway mode (registry watcher, per-tenant views, admission, limits,
//!   closing refused connections, HTTP/CONNECT/TCP serving per tenant, route identities);
//!   its decisions are `mtls-policy`'s (the same functions `tenantctl explain` prints), HTTP
//!   forwarding is `mtls-http-proxy`, CONNECT dialing `mtls-egress`;
//! - [`mtls_metrics`]: the Prometheus families and the lock-free handles both update;
//! - the registry is read through a [`SnapshotSource`](mtls_registry::SnapshotSource) given
//!   by the caller.
//!
//! # Example
//!
//! A server-mode listener on a free loopback port, bound and stopped again:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let key = rcgen::KeyPair::generate()?;
//! # let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.self_signed(&key)?;
//! # std::fs::write(dir.path().join("server.pem"), cert.pem())?;
//! # std::fs::write(dir.path().join("server-key.pem"), key.serialize_pem())?;
//! let text = r#"
//! [[listener]]
//! name = "api"
//! mode = "server"
//! listen = "127.0.0.1:0"
//! target = "127.0.0.1:9"
//!
//! [listener.tls]
//! cert = "server.pem"
//! key = "server-key.pem"
//! client_auth = "none"
//! "#;
//! // The config crate validates without a runtime; relative paths resolve next to the file.
//! let config = mtls_config::Config::from_toml(text, dir.path().join("mtlsd.toml"))?;
//! // No gateway listener, so no registry is needed.
//! let gateway = mtls_gateway::Gateway::bind(config, None).await?;
//! let bound = gateway.local_addrs();
//! assert_eq!((bound[0].kind, bound[0].name.as_str()), ("listener", "api"));
//! assert_ne!(bound[0].addr.port(), 0);
//! // `run()` serves until SIGTERM/SIGINT, then drains; `run_until` stops on a future.
//! let summary = gateway.run_until(async { "example done" }).await?;
//! assert_eq!(summary.abandoned_connections, 0);
//! # Ok(()) }
//! ```
//!
//! Gateway listeners read the tenant registry through a source the caller provides; `mtlsd`
//! gives the SQLite file of the data dir:
//!
//! ```no_run
//! # async fn run(config: mtls_config::Config) -> Result<(), mtls_gateway::StartError> {
//! use std::sync::Arc;
//! use mtls_registry::SnapshotSource;
//! use mtls_registry_sqlite::SqliteSnapshotSource;
//!
//! let registry: Arc<dyn SnapshotSource> = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
//! let gateway = mtls_gateway::Gateway::bind(config, Some(registry)).await?;
//! let summary = gateway.run().await?;
//! # let _ = summary; Ok(()) }
//! ```

mod admin;
mod admission;
mod conn;
mod error;
mod gateway;
mod listener;
mod log_writer;
mod logging;
mod registry_watch;
mod reload;
mod state;
mod tls;
mod tracker;

pub use error::{ErrorChain, StartError};
pub use gateway::{BoundAddr, Gateway, RunSummary, check};
pub use log_writer::{LOG_SHUTDOWN_WAIT, LineWriter, LogBuffer, LogBufferGuard, LogBufferSettings};
pub use logging::{LogGuard, dropped_log_lines, init_logging};
pub use tls::TlsError;

#[cfg(test)]
mod tests;
