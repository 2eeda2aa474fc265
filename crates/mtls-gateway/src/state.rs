//! Per-listener run-time state: the current TLS material behind `ArcSwap`, and reload.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::{ClientConfig, ServerConfig};
use time::OffsetDateTime;

use crate::config::{ClientAuth, ListenerConfig, ListenerMode, ServerTlsConfig};
use crate::metrics::{self, ListenerLabel, Metrics, ResultLabel, SideLabel};
use crate::tls::{self, CertInfo, TlsError};

/// A built TLS config and what it presents.
pub(crate) struct Loaded<T> {
    pub(crate) config: Arc<T>,
    pub(crate) info: CertInfo,
}

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
    pub(crate) label: ListenerLabel,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) inbound: Option<ArcSwap<Loaded<ServerConfig>>>,
    pub(crate) upstream: Option<ArcSwap<Loaded<ClientConfig>>>,
}

type Built = (Option<Loaded<ServerConfig>>, Option<Loaded<ClientConfig>>);

fn inbound_of(mode: &ListenerMode) -> Option<&ServerTlsConfig> {
    match mode {
        ListenerMode::Server { tls } | ListenerMode::Bridge { tls, .. } => Some(tls),
        _ => None,
    }
}

fn upstream_of(mode: &ListenerMode) -> Option<&crate::config::ClientTlsConfig> {
    match mode {
        ListenerMode::Client { tls } => Some(tls),
        ListenerMode::Bridge { upstream_tls, .. } => Some(upstream_tls),
        _ => None,
    }
}

/// Loads every TLS side of a listener; nothing is swapped unless all sides load.
pub(crate) fn build(config: &ListenerConfig) -> Result<Built, (TlsSide, TlsError)> {
    let inbound = inbound_of(&config.mode)
        .map(|t| tls::server_config(t).map(|(config, info)| Loaded { config, info }))
        .transpose()
        .map_err(|e| (TlsSide::Inbound, e))?;
    let upstream = upstream_of(&config.mode)
        .map(|t| tls::client_config(t).map(|(config, info)| Loaded { config, info }))
        .transpose()
        .map_err(|e| (TlsSide::Upstream, e))?;
    Ok((inbound, upstream))
}

// === impl ListenerState ===

impl ListenerState {
    pub(crate) fn new(config: ListenerConfig, built: Built, metrics: Arc<Metrics>) -> Self {
        let (inbound, upstream) = built;
        let state = Self {
            label: metrics::listener(&config.name),
            config,
            metrics,
            inbound: inbound.map(ArcSwap::from_pointee),
            upstream: upstream.map(ArcSwap::from_pointee),
        };
        state.update_expiry();
        state
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
        if let Some(t) = upstream_of(&self.config.mode) {
            files.extend([t.cert.clone(), t.key.clone(), t.ca.clone()]);
        }
        files
    }

    /// The certificates currently served, by side.
    pub(crate) fn cert_infos(&self) -> Vec<(TlsSide, CertInfo)> {
        let mut out = Vec::new();
        if let Some(i) = &self.inbound {
            out.push((TlsSide::Inbound, i.load().info.clone()));
        }
        if let Some(u) = &self.upstream {
            out.push((TlsSide::Upstream, u.load().info.clone()));
        }
        out
    }

    /// Rebuilds the TLS configs from disk. On success new handshakes use them (open
    /// connections keep theirs); on failure the old ones stay and the error is returned.
    pub(crate) fn reload(&self) -> Result<(), (TlsSide, TlsError)> {
        let result = build(&self.config);
        let label = |result| ResultLabel {
            listener: self.config.name.clone(),
            result,
        };
        match result {
            Ok((inbound, upstream)) => {
                if let (Some(slot), Some(new)) = (&self.inbound, inbound) {
                    slot.store(Arc::new(new));
                }
                if let (Some(slot), Some(new)) = (&self.upstream, upstream) {
                    slot.store(Arc::new(new));
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

    /// Refreshes `mtlsd_cert_expiry_seconds`.
    pub(crate) fn update_expiry(&self) {
        let now = OffsetDateTime::now_utc();
        for (side, info) in self.cert_infos() {
            self.metrics
                .cert_expiry
                .get_or_create(&SideLabel {
                    listener: self.config.name.clone(),
                    side: side.as_str(),
                })
                .set(info.seconds_left(now));
        }
    }
}
