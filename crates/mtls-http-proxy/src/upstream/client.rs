//! The upstream HTTP client: pooled connections over plain TCP or TLS (HTTP/1.1, or h2 when
//! the upstream's TLS negotiates it by ALPN).

use std::net::IpAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use mtls_egress::EgressPolicy;

use crate::body::ProxyBody;
use crate::upstream::connector::{Connector, UpstreamCounters};
use crate::upstream::tls::{TlsSetup, UpstreamClientError, UpstreamTlsSettings};

/// The default dial timeout (TCP connect, then TLS handshake): 5 seconds.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle pooled upstream connection is kept: 90 seconds.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Settings of one [`HttpUpstreamClient`].
#[derive(Debug, Clone)]
pub struct UpstreamClientSettings {
    /// TLS for `https` upstreams; `None` means `https` URLs fail to connect.
    pub tls: Option<UpstreamTlsSettings>,
    /// Source address of upstream connections (bound before connecting).
    pub egress_bind: Option<IpAddr>,
    /// Permit upstream addresses in non-public ranges (the route's `allow_private`). Every
    /// address an upstream's host resolves to is checked at dial time.
    pub allow_private: bool,
    /// Where failed dials and upstream bytes are counted.
    pub counters: UpstreamCounters,
    /// Limit for the TCP connect, and again for the TLS handshake.
    pub dial_timeout: Duration,
    /// How long idle pooled connections are kept.
    pub pool_idle_timeout: Duration,
}

// === impl UpstreamClientSettings ===

impl UpstreamClientSettings {
    /// Plain HTTP only, default timeouts, no egress bind, public upstream addresses only.
    pub fn plain() -> Self {
        Self {
            tls: None,
            egress_bind: None,
            allow_private: false,
            counters: UpstreamCounters::default(),
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
        }
    }
}

/// A pooled HTTP client for one route's upstreams.
///
/// Two pools: one for ordinary requests (HTTP/1.1, or h2 when a TLS upstream selects it by
/// ALPN) and one HTTP/1.1-only pool for upgrades (WebSocket), which h2 cannot carry.
#[derive(Debug, Clone)]
pub struct HttpUpstreamClient {
    pooled: Client<Connector, ProxyBody>,
    upgrades: Client<Connector, ProxyBody>,
}

// === impl HttpUpstreamClient ===

impl HttpUpstreamClient {
    /// Builds the client; nothing is dialled yet.
    pub fn new(settings: UpstreamClientSettings) -> Result<Self, UpstreamClientError> {
        let build = |alpn: &[&[u8]]| -> Result<Client<Connector, ProxyBody>, UpstreamClientError> {
            let tls = settings
                .tls
                .as_ref()
                .map(|tls| TlsSetup::new(tls, alpn))
                .transpose()?;
            let connector = Connector {
                egress: EgressPolicy {
                    allow_private: settings.allow_private,
                    egress_bind: settings.egress_bind,
                    dial_timeout: settings.dial_timeout,
                },
                tls,
                counters: settings.counters.clone(),
            };
            Ok(Client::builder(TokioExecutor::new())
                .pool_idle_timeout(settings.pool_idle_timeout)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(connector))
        };
        Ok(Self {
            pooled: build(&[b"h2", b"http/1.1"])?,
            upgrades: build(&[b"http/1.1"])?,
        })
    }

    /// Sends `request` (its URI absolute: scheme and authority of the upstream). `upgrade`
    /// selects the HTTP/1.1-only pool.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, ClientError> {
        if upgrade {
            self.upgrades.request(request).await
        } else {
            self.pooled.request(request).await
        }
    }
}
