//! The data-plane runtime of multi-mtls-proxy: the body of `mtlsd`.
//!
//! It reads one TOML [config] file and runs its listeners in one tokio runtime:
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
//! rustls configs are built with the aws-lc-rs provider passed explicitly; TLS 1.2 is the
//! floor (1.3 on request), and each listener has its own session cache.
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
//! [`probe`] is the diagnostic behind `mtlsd probe`.
//!
//! # Example
//!
//! Validating a config, as `mtlsd --check` does (the TLS files are only read by [`check`]
//! and [`Gateway::bind`]):
//!
//! ```
//! use mtls_gateway::config::{Config, ListenerMode};
//!
//! let text = r#"
//! [[listener]]
//! name = "api"
//! mode = "server"
//! listen = "127.0.0.1:8443"
//! target = "127.0.0.1:8080"
//!
//! [listener.tls]
//! cert = "server.pem"
//! key = "server-key.pem"
//! ca = "ca.pem"
//!
//! [listener.acl]
//! allow_uri = ["spiffe://example.test/tenant/*"]
//! "#;
//! let config = Config::from_toml(text, "/etc/mtlsd/mtlsd.toml")?;
//! let api = &config.listeners()[0];
//! assert!(matches!(api.mode, ListenerMode::Server { .. }));
//! assert_eq!(api.limits.idle_timeout.as_secs(), 90);
//!
//! // Every problem is reported, with the listener and the field.
//! let err = Config::from_toml(&text.replace("8080", "x").replace("server\"", "sideways\""), "m.toml")
//!     .unwrap_err();
//! assert_eq!(err.problems().len(), 2);
//! assert!(err.to_string().contains("listener \"api\": `target`"));
//!
//! // A client-mode listener with two identities, chosen by the CA names the upstream sends.
//! let text = r#"
//! [[listener]]
//! name = "partners"
//! mode = "client"
//! listen = "127.0.0.1:9080"
//! target = "api.acme.test:443"
//!
//! [listener.tls]
//! ca = "upstream-ca.pem"
//! fallback = "none"
//!
//! [[listener.tls.identities]]
//! name = "acme"
//! cert = "acme.pem"
//! key = "acme-key.pem"
//!
//! [[listener.tls.identities]]
//! name = "globex"
//! cert = "globex.pem"
//! key = "globex-key.pem"
//! "#;
//! let config = Config::from_toml(text, "/etc/mtlsd/mtlsd.toml")?;
//! let ListenerMode::Client { tls } = &config.listeners()[0].mode else { unreachable!() };
//! assert_eq!(tls.identities[1].name, "globex");
//! assert_eq!(tls.identities[1].cert.to_str(), Some("/etc/mtlsd/globex.pem"));
//!
//! // A gateway: TLS material and the registry come from the data dir.
//! let text = r#"
//! data_dir = "/var/lib/mtls"
//!
//! [[listener]]
//! name = "tenants"
//! mode = "gateway"
//! listen = "0.0.0.0:8443"
//!
//! [listener.gateway]
//! poll_interval = "200ms"
//! protocol = "auto"
//!
//! ## Routes with `upstream_tls.identity = "partner"` present this certificate upstream.
//! [[listener.gateway.identities]]
//! name = "partner"
//! cert = "partner.pem"
//! key = "partner-key.pem"
//! "#;
//! let config = Config::from_toml(text, "/etc/mtlsd/mtlsd.toml")?;
//! assert_eq!(config.registry_path().to_str(), Some("/var/lib/mtls/registry.db"));
//! let ListenerMode::Gateway { tls, gateway, identities } = &config.listeners()[0].mode else {
//!     unreachable!()
//! };
//! assert_eq!(tls.cert.to_str(), Some("/var/lib/mtls/server/cert.pem"));
//! assert_eq!(gateway.poll_interval.as_millis(), 200);
//! assert_eq!(identities[0].name, "partner");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Running it (inside a tokio runtime). Gateway listeners read the tenant registry through a
//! [`SnapshotSource`](mtls_registry::SnapshotSource) the caller provides; `mtlsd` gives the
//! SQLite file of the data dir:
//!
//! ```no_run
//! # async fn run(config: mtls_gateway::config::Config) -> Result<(), mtls_gateway::StartError> {
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
pub mod config;
mod conn;
mod error;
mod gateway;
mod handles;
mod listener;
mod logging;
mod metrics;
mod observe;
pub mod probe;
mod reload;
mod route_identities;
mod state;
mod tenancy;
mod tls;
mod tracker;

pub use error::{ErrorChain, StartError};
pub use gateway::{BoundAddr, Gateway, RunSummary, check};
pub use logging::{LOG_ENV, init_logging};
pub use tenancy::RegistryStartError;
pub use tls::{CertInfo, TlsError};

#[cfg(test)]
mod tests;
