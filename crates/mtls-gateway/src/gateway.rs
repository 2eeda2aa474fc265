//! The runtime: bind everything, serve, reload, drain on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mtls_metrics::Metrics;
use mtls_registry::SnapshotSource;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::admin::{self, AdminState, Routes};
use crate::error::StartError;
use crate::state::{self, ListenerState};
use crate::tls::TlsError;
use crate::tracker::Tracker;
use crate::{listener, reload};
use mtls_config::{Config, ListenerMode};
use mtls_tenancy::{RouteIdentities, Tenancy};

/// A socket the gateway has bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAddr {
    /// `listener` or `admin`.
    pub kind: &'static str,
    /// The listener name, or `health`, `metrics`, `health+metrics` for admin sockets.
    pub name: String,
    /// The actual address (with the port chosen by the OS when the config said 0).
    pub addr: SocketAddr,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Connections still open when the drain deadline passed (0 = clean drain).
    pub abandoned_connections: usize,
}

/// A gateway with its TLS material loaded and its sockets bound, ready to [`Gateway::run`].
pub struct Gateway {
    config: Config,
    listeners: Vec<(Arc<ListenerState>, TcpListener)>,
    admin: Vec<(TcpListener, Routes, String)>,
    metrics: Arc<Metrics>,
    nudge: mtls_tenancy::watcher::RegistryNudge,
}

/// Loads every listener's TLS material and reads the registry through `registry` for gateway
/// listeners, as [`Gateway::bind`] would, without binding. This is what `mtlsd --check` runs
/// after parsing the config.
pub fn check(config: &Config, registry: Option<Arc<dyn SnapshotSource>>) -> Result<(), StartError> {
    for l in config.listeners() {
        let (_, _, routes) = state::build(l, None).map_err(|(side, source)| StartError::Tls {
            listener: l.name.clone(),
            side: side.as_str(),
            source: Box::new(source),
        })?;
        if let ListenerMode::Gateway { gateway, .. } = &l.mode {
            let identities = routes
                .map(|(ids, certs)| RouteIdentities::new(ids, certs, None))
                .transpose()
                .map_err(|source| StartError::Tls {
                    listener: l.name.clone(),
                    side: "upstream",
                    source: Box::new(TlsError::IdentitySet(source)),
                })?
                .map(Arc::new);
            Tenancy::open(
                l,
                *gateway,
                registry_name(config),
                registry.clone(),
                Arc::new(Metrics::new()),
                identities,
            )
            .map_err(|source| StartError::Registry {
                listener: l.name.clone(),
                source: Box::new(source),
            })?;
        }
    }
    Ok(())
}

/// What names the registry in gateway errors and logs: its file, or its URL without the
/// password.
fn registry_name(config: &Config) -> std::path::PathBuf {
    std::path::PathBuf::from(config.registry().to_string())
}

async fn bind(what: String, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

// === impl Gateway ===

impl Gateway {
    /// Loads TLS material and binds every listener and admin socket. Gateway listeners read
    /// the tenant registry through `registry` (blocking calls, made at start here and then on
    /// the blocking pool); without one, a gateway listener is a [`StartError::Registry`].
    /// Other modes need none.
    pub async fn bind(
        config: Config,
        registry: Option<Arc<dyn SnapshotSource>>,
    ) -> Result<Self, StartError> {
        let metrics = Arc::new(Metrics::new());
        let mut listeners = Vec::new();
        for l in config.listeners() {
            let built =
                state::build(l, Some(&metrics)).map_err(|(side, source)| StartError::Tls {
                    listener: l.name.clone(),
                    side: side.as_str(),
                    source: Box::new(source),
                })?;
            let socket = bind(format!("listener {:?}", l.name), l.listen).await?;
            info!(
                listener = %l.name,
                mode = l.mode.as_str(),
                listen = %socket.local_addr().unwrap_or(l.listen),
                target = %crate::conn::Shown(l.target.as_ref()),
                "listener bound"
            );
            let mut state = ListenerState::new(l.clone(), built, metrics.clone());
            let tenancy = match &l.mode {
                ListenerMode::Gateway { gateway, .. } => {
                    // Reading the whole registry blocks (seconds at 100,000 tenants, and
                    // the PostgreSQL client may not block a runtime thread at all).
                    let (l, gateway, name) = (l.clone(), *gateway, registry_name(&config));
                    let (registry, metrics) = (registry.clone(), metrics.clone());
                    let identities = state.route_identities.clone();
                    let open = tokio::task::spawn_blocking(move || {
                        Tenancy::open(&l, gateway, name, registry, metrics, identities).map_err(
                            |source| StartError::Registry {
                                listener: l.name.clone(),
                                source: Box::new(source),
                            },
                        )
                    })
                    .await
                    .map_err(|e| StartError::Task {
                        what: "open the registry",
                        source: e,
                    })??;
                    Some(Arc::new(open))
                }
                _ => None,
            };
            if let Some(t) = &tenancy {
                info!(
                    listener = %l.name,
                    registry = %t.registry_path().display(),
                    version = t.current().snapshot().version(),
                    tenants = t.current().snapshot().tenant_count(),
                    routes = t.current().policy().table().len(),
                    "gateway listener serving the tenant registry"
                );
            }
            state.tenancy = tenancy;
            listeners.push((Arc::new(state), socket));
        }
        let mut admin = Vec::new();
        match (config.health_listen(), config.metrics_listen()) {
            (Some(h), Some(m)) if h == m => {
                let routes = Routes {
                    health: true,
                    metrics: true,
                };
                admin.push((
                    bind("health+metrics".into(), h).await?,
                    routes,
                    "health+metrics".into(),
                ));
            }
            (h, m) => {
                if let Some(h) = h {
                    let routes = Routes {
                        health: true,
                        metrics: false,
                    };
                    admin.push((bind("health".into(), h).await?, routes, "health".into()));
                }
                if let Some(m) = m {
                    let routes = Routes {
                        health: false,
                        metrics: true,
                    };
                    admin.push((bind("metrics".into(), m).await?, routes, "metrics".into()));
                }
            }
        }
        for (socket, _, name) in &admin {
            if let Ok(addr) = socket.local_addr()
                && !addr.ip().is_loopback()
            {
                warn!(endpoint = %name, %addr, "admin endpoint is not on a loopback address");
            }
        }
        Ok(Self {
            config,
            listeners,
            admin,
            metrics,
            nudge: mtls_tenancy::watcher::RegistryNudge::new(),
        })
    }

    /// A handle that makes the gateway listeners' registry watchers poll now (see
    /// [`RegistryNudge`](mtls_tenancy::watcher::RegistryNudge)): give it to whatever changes
    /// the registry in this process, such as the control-plane API.
    pub fn registry_nudge(&self) -> mtls_tenancy::watcher::RegistryNudge {
        self.nudge.clone()
    }

    /// The sockets bound, listeners first.
    pub fn local_addrs(&self) -> Vec<BoundAddr> {
        let listeners = self.listeners.iter().filter_map(|(s, l)| {
            Some(BoundAddr {
                kind: "listener",
                name: s.name().to_owned(),
                addr: l.local_addr().ok()?,
            })
        });
        let admin = self.admin.iter().filter_map(|(l, _, name)| {
            Some(BoundAddr {
                kind: "admin",
                name: name.clone(),
                addr: l.local_addr().ok()?,
            })
        });
        listeners.chain(admin).collect()
    }

    /// Serves until SIGTERM or SIGINT, reloading certificates on file changes and SIGHUP.
    /// On the stop signal, stops accepting, waits up to `shutdown.drain_timeout` for open
    /// connections, and returns.
    pub async fn run(self) -> Result<RunSummary, StartError> {
        let mut term = signal(SignalKind::terminate()).map_err(|source| StartError::Signal {
            signal: "SIGTERM",
            source,
        })?;
        let mut int = signal(SignalKind::interrupt()).map_err(|source| StartError::Signal {
            signal: "SIGINT",
            source,
        })?;
        let stop = async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        };
        self.run_until(stop).await
    }

    /// Like [`Gateway::run`], stopping when `stop` resolves (its output names the cause in
    /// the log) instead of on a signal. SIGHUP still triggers a reload.
    pub async fn run_until<F>(self, stop: F) -> Result<RunSummary, StartError>
    where
        F: std::future::Future<Output = &'static str>,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        // The admin endpoints outlive the listeners so `/readyz` can report the drain.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        let tracker = Tracker::default();
        let states: Vec<Arc<ListenerState>> =
            self.listeners.iter().map(|(s, _)| s.clone()).collect();

        let trigger = Arc::new(Notify::new());
        let watcher = if self.config.reload().watch {
            Some(reload::watch_files(
                &reload::all_files(&states),
                trigger.clone(),
            )?)
        } else {
            info!("certificate files are not watched (reload.watch = false): reload with SIGHUP");
            None
        };
        let hup = reload::sighup()?;
        let reloader = tokio::spawn(reload::run(
            states.clone(),
            *self.config.reload(),
            trigger,
            hup,
            stop_rx.clone(),
            watcher,
        ));

        let admin_state = Arc::new(AdminState {
            listeners: states.clone(),
            metrics: self.metrics.clone(),
            accepting: false.into(),
        });
        let mut admin_tasks = Vec::new();
        for (socket, routes, _) in self.admin {
            admin_tasks.push(tokio::spawn(admin::serve(
                socket,
                routes,
                admin_state.clone(),
                admin_stop_rx.clone(),
            )));
        }
        // Registry watchers run until the drain is over (with the admin endpoints), so that
        // draining connections of a tenant suspended or a certificate revoked meanwhile are
        // still closed.
        let mut registry_watchers = Vec::new();
        // (The SQLite file's events; a PostgreSQL registry announces its changes through
        // the listener the binary runs.)
        let registries: Vec<_> = match self.config.registry().file() {
            Some(file) if states.iter().any(|s| s.tenancy.is_some()) => vec![file.to_owned()],
            _ => Vec::new(),
        };
        // Kept for as long as the registry watchers run: dropping it stops the events.
        let _registry_events = crate::registry_watch::watch(&registries, self.nudge.clone());
        for state in &states {
            if let Some(t) = &state.tenancy {
                registry_watchers.push(tokio::spawn(mtls_tenancy::watcher::run(
                    t.clone(),
                    admin_stop_rx.clone(),
                    self.nudge.subscribe(),
                )));
                registry_watchers.push(tokio::spawn(
                    reload::clear_verified_chains_on_registry_change(
                        state.clone(),
                        admin_stop_rx.clone(),
                    ),
                ));
            }
        }
        let mut accept_tasks = Vec::new();
        for (state, socket) in self.listeners {
            accept_tasks.push(tokio::spawn(listener::serve(
                state,
                socket,
                stop_rx.clone(),
                tracker.clone(),
            )));
        }
        admin_state.accepting.store(true, Ordering::SeqCst);
        info!(listeners = states.len(), "mtlsd ready");

        let cause = stop.await;
        let drain = self.config.drain_timeout();
        info!(cause, open_connections = tracker.live(), drain_timeout = ?drain, "stopping: no new connections, draining open ones");
        admin_state.accepting.store(false, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        for t in accept_tasks {
            let _ = t.await;
        }
        let abandoned = match tokio::time::timeout(drain, tracker.idle()).await {
            Ok(()) => 0,
            Err(_) => {
                let n = tracker.live();
                warn!(
                    abandoned = n,
                    "drain deadline passed; closing the remaining connections"
                );
                n
            }
        };
        let _ = admin_stop_tx.send(true);
        for t in admin_tasks {
            let _ = t.await;
        }
        let _ = reloader.await;
        for t in registry_watchers {
            let _ = t.await;
        }
        info!("mtlsd stopped");
        Ok(RunSummary {
            abandoned_connections: abandoned,
        })
    }
}
