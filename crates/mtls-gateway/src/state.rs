//! Per-listener run-time state: the current TLS material behind `ArcSwap`, and reload.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::{ClientConfig, ServerConfig};
use time::OffsetDateTime;

use mtls_config::{IdentityConfig, ListenerConfig, ListenerMode, ServerTlsConfig};
use mtls_metrics::{
    IdentityLabel, ListenerMetrics, Metrics, ReasonLabel, ResultLabel, SelectionMetrics, SideLabel,
    start_at_zero,
};
use mtls_resolver::{Identity, SelectionObserver};
use mtls_tenancy::{RouteIdentities, Tenancy};
use mtls_tls::ClientAuth;
use mtls_tls::{CertInfo, VerifiedChainCache};
use tracing::warn;

use crate::tls::{self, TlsError};

/// A built TLS config and what it presents: the server certificate of an inbound side, or
/// every client identity of an outbound side (configuration order; none when the config says
/// `identities = []`).
pub(crate) struct Loaded<T> {
    pub(crate) config: Arc<T>,
    pub(crate) certs: Vec<CertInfo>,
    /// An inbound side's cache of verified client chains (`None` for outbound sides and
    /// inbound sides without client authentication or with the cache turned off).
    pub(crate) verified_chains: Option<Arc<VerifiedChainCache>>,
}

/// Every `reason` of `mtlsd_tls_handshake_failures_total`: what `conn::classify` returns,
/// plus `timeout`. Their series start at 0.
pub(crate) const HANDSHAKE_FAILURE_REASONS: [&str; 15] = [
    "timeout",
    "eof",
    "io",
    "no_client_cert",
    "cert_expired",
    "cert_not_yet_valid",
    "unknown_ca",
    "cert_revoked",
    "name_mismatch",
    "bad_certificate",
    "protocol_version",
    "incompatible",
    "not_tls",
    "alert_received",
    "other",
];

/// Which TLS side of a listener failed to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsSide {
    Inbound,
    Upstream,
}

// === impl TlsSide ===

impl TlsSide {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Upstream => "upstream",
        }
    }
}

/// Everything a listener's connections need, shared by its tasks.
pub(crate) struct ListenerState {
    pub(crate) config: ListenerConfig,
    /// This listener's metric handles, resolved once.
    pub(crate) handles: ListenerMetrics,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) inbound: Option<ArcSwap<Loaded<ServerConfig>>>,
    pub(crate) upstream: Option<ArcSwap<Loaded<ClientConfig>>>,
    /// The client identities HTTP routes of a gateway listener may present.
    pub(crate) route_identities: Option<Arc<RouteIdentities>>,
    /// The registry side of a gateway listener.
    pub(crate) tenancy: Option<Arc<Tenancy>>,
}

/// The TLS sides of a listener, plus the route identities of a gateway listener.
type Built = (
    Option<Loaded<ServerConfig>>,
    Option<Loaded<ClientConfig>>,
    Option<(Vec<Identity>, Vec<CertInfo>)>,
);

/// The client identities of a gateway listener's HTTP routes.
fn route_identities_of(mode: &ListenerMode) -> Option<&[IdentityConfig]> {
    match mode {
        ListenerMode::Gateway { identities, .. } => Some(identities),
        _ => None,
    }
}

fn inbound_of(mode: &ListenerMode) -> Option<&ServerTlsConfig> {
    match mode {
        ListenerMode::Server { tls }
        | ListenerMode::Bridge { tls, .. }
        | ListenerMode::Gateway { tls, .. } => Some(tls),
        _ => None,
    }
}

/// Loads every TLS side of a listener; nothing is swapped unless all sides load. With
/// `metrics`, client-identity decisions are counted and logged.
pub(crate) fn build(
    config: &ListenerConfig,
    metrics: Option<&Arc<Metrics>>,
) -> Result<Built, (TlsSide, TlsError)> {
    let config_mode = &config.mode;
    let inbound = inbound_of(&config.mode)
        .map(|t| {
            tls::server_config(t).map(|side| {
                let mut config = side.config;
                if matches!(config_mode, ListenerMode::Gateway { .. }) {
                    // ALPN picks HTTP/1.1 or h2 on gateway listeners (the config is fresh
                    // and unshared, so this does not clone).
                    Arc::make_mut(&mut config).alpn_protocols =
                        vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                }
                Loaded {
                    config,
                    certs: vec![side.info],
                    verified_chains: side.verified_chains,
                }
            })
        })
        .transpose()
        .map_err(|e| (TlsSide::Inbound, e))?;
    let upstream = config
        .mode
        .upstream_tls()
        .map(|t| {
            let observer = metrics.map(|m| {
                Arc::new(SelectionMetrics::new(&config.name, m.clone()))
                    as Arc<dyn SelectionObserver>
            });
            let side = tls::client_config(t, observer)?;
            for identity in side.resolver.identities() {
                for warning in identity.warnings() {
                    warn!(
                        listener = %config.name,
                        identity = identity.name(),
                        %warning,
                        "client identity loaded with a problem; upstreams may reject it"
                    );
                }
            }
            Ok(Loaded {
                config: side.config,
                certs: side.certs,
                verified_chains: None,
            })
        })
        .transpose()
        .map_err(|e| (TlsSide::Upstream, e))?;
    let routes = route_identities_of(&config.mode)
        .map(|list| tls::load_identities(list, &mtls_tls::provider()))
        .transpose()
        .map_err(|e| (TlsSide::Upstream, e))?;
    Ok((inbound, upstream, routes))
}

// === impl ListenerState ===

impl ListenerState {
    pub(crate) fn new(config: ListenerConfig, built: Built, metrics: Arc<Metrics>) -> Self {
        let (inbound, upstream, routes) = built;
        let route_identities = routes.and_then(|(identities, certs)| {
            let observer = Arc::new(SelectionMetrics::new(&config.name, metrics.clone()))
                as Arc<dyn SelectionObserver>;
            // One identity per resolver: building cannot fail on names (they are unique).
            RouteIdentities::new(identities, certs, Some(observer))
                .map_err(TlsError::IdentitySet)
                .inspect_err(|e| warn!(listener = %config.name, error = %crate::error::ErrorChain(e), "cannot index the route identities"))
                .ok()
                .map(Arc::new)
        });
        let state = Self {
            route_identities,
            handles: ListenerMetrics::new(&metrics, &config.name),
            config,
            metrics,
            inbound: inbound.map(ArcSwap::from_pointee),
            upstream: upstream.map(ArcSwap::from_pointee),
            tenancy: None,
        };
        state.init_series();
        state.update_expiry();
        state
    }

    /// Creates the listener's counters whose label values are known in advance at 0
    /// (reload results, handshake failure reasons), so that an alert on their increase
    /// fires on the first one.
    fn init_series(&self) {
        let name = &self.handles.name;
        start_at_zero(
            &self.metrics.cert_reloads,
            ["success", "failure"].map(|result| ResultLabel {
                listener: name.clone(),
                result,
            }),
        );
        start_at_zero(
            &self.metrics.handshake_failures,
            HANDSHAKE_FAILURE_REASONS.map(|reason| ReasonLabel {
                listener: name.clone(),
                reason,
            }),
        );
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// The files whose change should trigger a reload.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Some(t) = inbound_of(&self.config.mode) {
            files.extend([t.cert.clone(), t.key.clone()]);
            if let ClientAuth::Required { ca } | ClientAuth::Optional { ca } = &t.client_auth {
                files.push(ca.clone());
            }
        }
        if let Some(t) = self.config.mode.upstream_tls() {
            for identity in &t.identities {
                files.extend([identity.cert.clone(), identity.key.clone()]);
            }
            files.push(t.ca.clone());
        }
        for identity in route_identities_of(&self.config.mode).unwrap_or_default() {
            files.extend([identity.cert.clone(), identity.key.clone()]);
        }
        files
    }

    /// The certificates currently served, by side (one per client identity upstream).
    pub(crate) fn cert_infos(&self) -> Vec<(TlsSide, CertInfo)> {
        let mut out = Vec::new();
        if let Some(i) = &self.inbound {
            out.extend(i.load().certs.iter().map(|c| (TlsSide::Inbound, c.clone())));
        }
        if let Some(u) = &self.upstream {
            out.extend(
                u.load()
                    .certs
                    .iter()
                    .map(|c| (TlsSide::Upstream, c.clone())),
            );
        }
        if let Some(r) = &self.route_identities {
            out.extend(r.certs().iter().map(|c| (TlsSide::Upstream, c.clone())));
        }
        out
    }

    /// Rebuilds the TLS configs from disk. On success new handshakes use them (open
    /// connections keep theirs); on failure the old ones stay and the error is returned.
    /// Blocking (reads files, compiles the registry view again): call it on the blocking
    /// pool.
    pub(crate) fn reload(&self) -> Result<(), (TlsSide, TlsError)> {
        let result = build(&self.config, Some(&self.metrics));
        let label = |result| ResultLabel {
            listener: self.handles.name.clone(),
            result,
        };
        match result {
            Ok((inbound, upstream, routes)) => {
                if let (Some(slot), Some((identities, certs))) = (&self.route_identities, routes)
                    && let Err(e) = slot
                        .replace(identities, certs)
                        .map_err(TlsError::IdentitySet)
                {
                    self.metrics
                        .cert_reloads
                        .get_or_create(&label("failure"))
                        .inc();
                    return Err((TlsSide::Upstream, e));
                }
                if self.route_identities.is_some()
                    && let Some(tenancy) = &self.tenancy
                {
                    tenancy.recompile();
                }
                if let (Some(slot), Some(new)) = (&self.inbound, inbound) {
                    slot.store(Arc::new(new));
                }
                if let (Some(slot), Some(new)) = (&self.upstream, upstream) {
                    let old = slot.swap(Arc::new(new));
                    self.forget_removed_identities(&old.certs);
                }
                self.update_expiry();
                self.metrics
                    .cert_reloads
                    .get_or_create(&label("success"))
                    .inc();
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .cert_reloads
                    .get_or_create(&label("failure"))
                    .inc();
                Err(e)
            }
        }
    }

    /// Refreshes `mtlsd_cert_expiry_seconds` (per side; upstream: the identity that expires
    /// first) and `mtlsd_client_identity_expiry_seconds` (per identity).
    pub(crate) fn update_expiry(&self) {
        let now = OffsetDateTime::now_utc();
        let mut soonest: [Option<i64>; 2] = [None, None];
        for (side, info) in self.cert_infos() {
            let left = info.seconds_left(now);
            let slot = &mut soonest[usize::from(side == TlsSide::Upstream)];
            *slot = Some(slot.map_or(left, |s| s.min(left)));
            if let Some(identity) = info.identity {
                self.metrics
                    .identity_expiry
                    .get_or_create(&IdentityLabel {
                        listener: self.handles.name.clone(),
                        identity,
                    })
                    .set(left);
            }
        }
        for (side, left) in [TlsSide::Inbound, TlsSide::Upstream]
            .into_iter()
            .zip(soonest)
        {
            if let Some(left) = left {
                self.metrics
                    .cert_expiry
                    .get_or_create(&SideLabel {
                        listener: self.handles.name.clone(),
                        side: side.as_str(),
                    })
                    .set(left);
            }
        }
    }

    /// Drops the expiry series of identities a reload removed (so a renamed identity does
    /// not leave a stale countdown behind).
    fn forget_removed_identities(&self, old: &[CertInfo]) {
        let Some(upstream) = &self.upstream else {
            return;
        };
        let current = upstream.load();
        for name in old.iter().filter_map(|c| c.identity.as_deref()) {
            if !current
                .certs
                .iter()
                .any(|c| c.identity.as_deref() == Some(name))
            {
                self.metrics.identity_expiry.remove(&IdentityLabel {
                    listener: self.handles.name.clone(),
                    identity: name.to_owned(),
                });
            }
        }
    }
}
