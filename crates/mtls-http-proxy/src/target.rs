//! [`RouteTarget`]: one HTTP route, compiled for forwarding.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use mtls_identity::TenantId;
use mtls_route_spec::HttpRoute;
use rustls::RootCertStore;
use rustls::client::ResolvesClientCert;

use crate::headers::{ForwardedFor, HeaderRewrite};
use crate::upstream::client::{
    DEFAULT_DIAL_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT, HttpUpstreamClient, UpstreamClientSettings,
};
use crate::upstream::connector::UpstreamCounters;
use crate::upstream::pool::{DEFAULT_FAILURE_COOLDOWN, UpstreamPool};
use crate::upstream::tls::{UpstreamClientError, UpstreamTlsSettings, parse_server_name};
use crate::xfcc::ForwardedClientCert;

/// The default per-route timeout for the upstream's response head: 30 seconds.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default idle timeout of upgraded (WebSocket) connections: 5 minutes.
pub const DEFAULT_UPGRADE_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a route could not be compiled into a [`RouteTarget`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteTargetError {
    /// The route's upstream client could not be set up (CA file, server name, TLS).
    #[error("route {route}: upstream TLS setup failed")]
    Upstream {
        /// The route.
        route: String,
        /// Why.
        #[source]
        source: UpstreamClientError,
    },
    /// The route names a client identity but the caller supplied no resolver for it.
    #[error("route {route}: client identity {identity:?} is not available")]
    MissingIdentity {
        /// The route.
        route: String,
        /// The identity name the route asks for.
        identity: String,
    },
    /// A header value of the route cannot be sent (the route was not validated).
    #[error("route {route}: header {name:?} cannot be sent")]
    BadHeader {
        /// The route.
        route: String,
        /// The header name, or `host` for `rewrite_host`.
        name: String,
    },
    /// The route has no upstream (the route was not validated).
    #[error("route {route}: no upstream")]
    NoUpstream {
        /// The route.
        route: String,
    },
}

/// Proxy-wide settings used when compiling routes.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// Timeout for a route without its own: time until the upstream's response head.
    pub default_timeout: Duration,
    /// Body limit for a route without its own; `None` means unlimited.
    pub default_max_body_bytes: Option<u64>,
    /// TCP connect limit, and again TLS handshake limit.
    pub dial_timeout: Duration,
    /// How long an upstream that failed to connect is skipped.
    pub failure_cooldown: Duration,
    /// Idle timeout of upgraded connections.
    pub upgrade_idle_timeout: Duration,
    /// How long idle pooled upstream connections are kept.
    pub pool_idle_timeout: Duration,
    /// Roots for `https` upstreams of routes without a `ca_file`; `None` uses the system
    /// trust store.
    pub default_roots: Option<Arc<RootCertStore>>,
    /// What to do with client-supplied `x-forwarded-for`.
    pub forwarded_for: ForwardedFor,
    /// Where every route's failed dials and upstream bytes are counted.
    pub counters: UpstreamCounters,
}

// === impl TargetOptions ===

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            default_timeout: DEFAULT_ROUTE_TIMEOUT,
            default_max_body_bytes: None,
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            failure_cooldown: DEFAULT_FAILURE_COOLDOWN,
            upgrade_idle_timeout: DEFAULT_UPGRADE_IDLE_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            default_roots: None,
            forwarded_for: ForwardedFor::Replace,
            counters: UpstreamCounters::default(),
        }
    }
}

/// One HTTP route ready to forward to: its upstream pool, pooled client, header rewrite and
/// limits. Build it when routes change and share it (`Arc`) between requests.
#[derive(Debug)]
pub struct RouteTarget {
    pub(crate) name: Arc<str>,
    pub(crate) pool: UpstreamPool,
    pub(crate) client: HttpUpstreamClient,
    pub(crate) rewrite: HeaderRewrite,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) upgrade_idle_timeout: Duration,
    /// The source address of upstream connections (bound before connecting).
    pub(crate) source: Option<IpAddr>,
}

// === impl RouteTarget ===

impl RouteTarget {
    /// Compiles `route`, named `name` in errors, logs and error responses.
    ///
    /// `client_identity` is the resolver for `route.upstream_tls.identity` (the caller maps
    /// the name to its identities); it is required when the route names one, and offered to
    /// `https` upstreams that ask for a client certificate. The CA file, if any, is read now.
    pub fn from_route(
        name: &str,
        route: &HttpRoute,
        options: &TargetOptions,
        client_identity: Option<Arc<dyn ResolvesClientCert>>,
    ) -> Result<Self, RouteTargetError> {
        Self::from_route_with_source(name, route, route.egress_bind, options, client_identity)
    }

    /// [`from_route`](Self::from_route), with upstream connections leaving from `source`
    /// instead of the route's own `egress_bind`: the gateway passes the route's effective
    /// source (its `egress_bind`, else its tenant's egress address). The target's connection
    /// pool only ever holds connections from `source`; a different source needs a new
    /// target.
    pub fn from_route_with_source(
        name: &str,
        route: &HttpRoute,
        source: Option<IpAddr>,
        options: &TargetOptions,
        client_identity: Option<Arc<dyn ResolvesClientCert>>,
    ) -> Result<Self, RouteTargetError> {
        let upstream_err = |source| RouteTargetError::Upstream {
            route: name.to_owned(),
            source,
        };
        let tls_spec = route.upstream_tls.clone().unwrap_or_default();
        if let Some(identity) = &tls_spec.identity
            && client_identity.is_none()
        {
            return Err(RouteTargetError::MissingIdentity {
                route: name.to_owned(),
                identity: identity.clone(),
            });
        }
        let tls = if route.upstreams.iter().any(|u| u.is_https()) {
            let roots = match (&tls_spec.ca_file, &options.default_roots) {
                (Some(path), _) => mtls_tls::load_root_store(path)
                    .map_err(UpstreamClientError::Roots)
                    .map_err(upstream_err)?,
                (None, Some(roots)) => roots.clone(),
                (None, None) => mtls_tls::system_roots()
                    .map_err(UpstreamClientError::Roots)
                    .map_err(upstream_err)?,
            };
            let server_name = tls_spec
                .server_name
                .as_deref()
                .map(parse_server_name)
                .transpose()
                .map_err(upstream_err)?;
            Some(UpstreamTlsSettings {
                roots,
                server_name,
                client_identity,
            })
        } else {
            None
        };
        let client = HttpUpstreamClient::new(UpstreamClientSettings {
            tls,
            egress_bind: source,
            allow_private: route.allow_private,
            counters: options.counters.clone(),
            dial_timeout: options.dial_timeout,
            pool_idle_timeout: options.pool_idle_timeout,
        })
        .map_err(upstream_err)?;

        let bad_header = |header: &str| RouteTargetError::BadHeader {
            route: name.to_owned(),
            name: header.to_owned(),
        };
        let host = route
            .rewrite_host
            .as_deref()
            .map(|h| HeaderValue::from_str(h).map_err(|_| bad_header("host")))
            .transpose()?;
        let add = route
            .add_headers
            .iter()
            .map(|h| {
                let name = HeaderName::from_bytes(h.name().as_bytes());
                let value = HeaderValue::from_str(h.value());
                match (name, value) {
                    (Ok(name), Ok(value)) => Ok((name, value)),
                    _ => Err(bad_header(h.name())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pool =
            UpstreamPool::new(route.upstreams.clone(), options.failure_cooldown).map_err(|_| {
                RouteTargetError::NoUpstream {
                    route: name.to_owned(),
                }
            })?;
        Ok(Self {
            name: name.into(),
            pool,
            client,
            rewrite: HeaderRewrite {
                host,
                add,
                forwarded_for: options.forwarded_for,
            },
            timeout: route.timeout.unwrap_or(options.default_timeout),
            max_body_bytes: route.max_body_bytes.or(options.default_max_body_bytes),
            upgrade_idle_timeout: options.upgrade_idle_timeout,
            source,
        })
    }

    /// The source address upstream connections are bound to; `None` lets the OS choose.
    pub fn source(&self) -> Option<IpAddr> {
        self.source
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The route's upstreams and their health.
    pub fn pool(&self) -> &UpstreamPool {
        &self.pool
    }

    /// The timeout for the upstream's response head.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The request body limit, if any.
    pub fn max_body_bytes(&self) -> Option<u64> {
        self.max_body_bytes
    }
}

/// Who a request comes from: built once per client connection by the gateway.
#[derive(Debug, Clone)]
pub struct ForwardContext {
    /// The tenant the client certificate maps to.
    pub tenant: TenantId,
    /// The client's address (the TCP peer of the proxy).
    pub client_ip: IpAddr,
    /// The client certificate, ready for `x-forwarded-client-cert`.
    pub client_cert: ForwardedClientCert,
}
