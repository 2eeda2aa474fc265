//! The multi-mtls-proxy control-plane API over mTLS: admin endpoints, tenant self-service,
//! enrollment and renewal, as an axum service any tokio program can mount.
//!
//! - [`ControlPlane::new`] takes the registry ([`Store`]), the CA and [`ControlSettings`].
//! - [`ControlPlane::serve`] does the TLS itself (config from [`control_server_config`]:
//!   TLS 1.2+, ALPN h2/http1.1, client certificates optional but verified against the CA,
//!   the recovery window for expired tenant certificates) and serves until shutdown.
//! - [`ControlPlane::router`] is the bare [`axum::Router`] for an embedder with its own TLS:
//!   it must insert a [`TlsPeer`] (the verified client chain and the remote address) into
//!   every request's extensions.
//!
//! Callers are decided per request from the verified leaf certificate and the registry:
//! an **admin** has a URI SAN `spiffe://<domain>/admin/<name>` and a recorded, unrevoked
//! admin certificate; a **tenant** has a URI SAN `spiffe://<domain>/tenant/<id>` and a
//! recorded, unrevoked certificate of that active tenant. An admin may call everything; a
//! tenant only its own tenant's read, route and certificate endpoints, `POST /v1/renew`,
//! `GET /v1/audit` (its own events) and `GET /v1/whoami`. `POST /v1/enroll`, `GET /v1/crl`
//! and `GET /openapi.json` need no certificate; everything else is 401 without one.
//!
//! Every failure is `{"error":{"code","message"}}` with the code's status
//! ([`mtls_control_api::ErrorCode`]). Every call is audited with the actor
//! `api:admin/<name> from <ip>:<port>`, `api:tenant/<id> from ...` or
//! `api:anonymous from ...`: changes by the store in their own transaction, reads as
//! `api.read` and refusals as `api.refused` (details: method, path, status, code).
//! Rate-limited requests (429) are not audited — a flood would write the database — but
//! counted ([`ControlPlane::rate_limited_total`]) and logged (the first, then every 100th).
//! Unauthenticated calls (no certificate, or one the registry refuses) are audited within a
//! per-source budget (`anonymous_audit_per_ip`, default 60 a minute); beyond it they are
//! counted ([`ControlStats::unaudited_total`]) and logged, so an anonymous flood cannot grow
//! the append-only log without bound.
//!
//! # Example
//!
//! A control plane on 127.0.0.1 with a fresh CA and registry; an anonymous call gets the
//! OpenAPI document and a call without a certificate is refused.
//!
//! ```
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use mtls_ca::{CaConfig, CertificateAuthority, ServerCertRequest};
//! use mtls_control::{ControlPlane, ControlSettings, control_server_config};
//! use mtls_registry::{Actor, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let domain: mtls_identity::TrustDomain = "proxy.example.test".parse()?;
//! let store: Arc<dyn Store> = Arc::new(mtls_registry_sqlite::SqliteStore::create(
//!     dir.path().join("registry.db"), &domain, &Actor::new("doc")?)?);
//! let ca = Arc::new(CertificateAuthority::generate(&CaConfig::default())?);
//! let server = ca.issue_server(&ServerCertRequest::new(["localhost"]))?;
//! std::fs::write(dir.path().join("cert.pem"), &server.chain_pem)?;
//! std::fs::write(dir.path().join("key.pem"), server.key_pem.as_deref().unwrap().as_str())?;
//! std::fs::write(dir.path().join("ca.pem"), ca.root_pem())?;
//!
//! let settings = ControlSettings::default();
//! let tls = control_server_config(&dir.path().join("cert.pem"), &dir.path().join("key.pem"),
//!     &dir.path().join("ca.pem"), domain, settings.recovery_window)?;
//! let control = ControlPlane::new(store, ca.clone(), settings)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(control.serve(listener, Arc::new(tls), async { stopped.await.ok(); }));
//!
//! let client = reqwest::Client::builder()
//!     .use_preconfigured_tls(mtls_tls::client_config(mtls_tls::ClientTlsParams {
//!         roots: mtls_tls::load_root_store(&dir.path().join("ca.pem"))?,
//!         min_version: mtls_tls::TlsVersion::Tls12,
//!         client_cert: None,
//!     })?)
//!     .resolve("localhost", addr)
//!     .build()?;
//! let doc: serde_json::Value = client
//!     .get(format!("https://localhost:{}/openapi.json", addr.port())).send().await?.json().await?;
//! assert!(doc["paths"]["/v1/enroll"]["post"].is_object());
//! let refused = client
//!     .get(format!("https://localhost:{}/v1/tenants", addr.port())).send().await?;
//! assert_eq!(refused.status(), 401);
//! let body: mtls_control_api::ErrorBody = refused.json().await?;
//! assert_eq!(body.error.code, mtls_control_api::ErrorCode::Unauthenticated);
//!
//! stop.send(()).ok();
//! server.await??;
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(example()).unwrap();
//! ```
//!
//! # What it does not own
//!
//! The wire types (`mtls-control-api`), the registry's rules (`mtls-registry` and its
//! backends), signing (`mtls-ca`), the `[control]` config section (`mtls-config`) and the
//! daemon wiring (`mtlsd`).

mod audit_layer;
mod authenticate;
mod caller;
mod convert;
mod error;
mod handlers;
mod json;
mod peer;
mod rate_limit;
mod router;
mod serve;
mod settings;
mod state;
mod tls;

use std::future::Future;
use std::sync::Arc;

use mtls_ca::CertificateAuthority;
use mtls_registry::Store;
use rustls::ServerConfig;
use tokio::net::TcpListener;

pub use error::{ApiError, ControlError};
pub use peer::TlsPeer;
pub use settings::{
    ControlSettings, DEFAULT_CERT_VALIDITY, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_RECOVERIES, DEFAULT_RECOVERY_WINDOW, RateLimit,
};
pub use tls::control_server_config;

/// The control plane: the registry, the CA and the settings, ready to serve.
pub struct ControlPlane {
    state: state::AppState,
}

// === impl ControlPlane ===

impl ControlPlane {
    /// A control plane over `store` (opened read-write) signing with `ca`. Reads the
    /// registry's trust domain.
    pub fn new(
        store: Arc<dyn Store>,
        ca: Arc<CertificateAuthority>,
        settings: ControlSettings,
    ) -> Result<Self, ControlError> {
        let trust_domain = store.trust_domain()?;
        let limits = rate_limit::RateLimiters::new(&settings);
        Ok(Self {
            state: Arc::new(state::Shared {
                store,
                ca,
                settings,
                trust_domain,
                limits,
                on_change: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The router, for mounting behind the embedder's own TLS. Each request must carry a
    /// [`TlsPeer`] extension (without one, the caller is anonymous).
    pub fn router(&self) -> axum::Router {
        router::build(self.state.clone())
    }

    /// The OpenAPI document the router serves at `/openapi.json`.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        use utoipa::OpenApi as _;
        handlers::openapi::ApiDoc::openapi()
    }

    /// How many requests the rate limits refused (429) since start.
    pub fn rate_limited_total(&self) -> u64 {
        self.state.limits.refused_total()
    }

    /// Registers `hook`, called after every call that committed a change (a successful
    /// request other than GET/HEAD), once its response is ready. An embedder that serves
    /// the registry's data plane in the same process uses it to pick the change up at once
    /// (mtlsd: the gateway's registry watchers poll immediately instead of at their next
    /// tick). One hook per control plane: returns false, keeping the first, if one is set.
    /// The hook runs on the request's task: keep it quick and non-blocking.
    pub fn on_change(&self, hook: impl Fn() + Send + Sync + 'static) -> bool {
        self.state.on_change.set(Arc::new(hook)).is_ok()
    }

    /// A handle that reads [`rate_limited_total`](Self::rate_limited_total) after `self`
    /// was moved into [`serve`](Self::serve).
    pub fn stats(&self) -> ControlStats {
        ControlStats {
            state: self.state.clone(),
        }
    }

    /// Serves the API on `listener` with `tls` (see [`control_server_config`]) until
    /// `shutdown` completes; open connections then get up to 5 seconds to finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        tls: Arc<ServerConfig>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ControlError> {
        let limits = serve::ConnectionLimits {
            handshake_timeout: self.state.settings.handshake_timeout,
            max_connections: self.state.settings.max_connections,
        };
        serve::serve(self.router(), listener, tls, limits, shutdown).await
    }
}

/// Counters of a running [`ControlPlane`].
#[derive(Clone)]
pub struct ControlStats {
    state: state::AppState,
}

// === impl ControlStats ===

impl ControlStats {
    /// How many requests the rate limits refused (429) since start.
    pub fn rate_limited_total(&self) -> u64 {
        self.state.limits.refused_total()
    }

    /// How many unauthenticated calls were not audited because their source address was
    /// over its audit budget.
    pub fn unaudited_total(&self) -> u64 {
        self.state.limits.unaudited_total()
    }
}
