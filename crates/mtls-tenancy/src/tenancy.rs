//! [`Tenancy`]: the registry side of one gateway listener.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mtls_http_proxy::{TargetOptions, UpstreamCounters};
use mtls_identity::TenantId;
use mtls_policy::AdmissionRefusal;
use mtls_registry::{Refusal, Snapshot, SnapshotSource};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use mtls_config::{GatewaySettings, ListenerConfig};
use mtls_metrics::{
    DirectionLabel, ListenerLabel, Metrics, Name, ReasonLabel, ResultLabel, start_at_zero,
};

use crate::error::RegistryStartError;
use crate::route_identities::RouteIdentities;
use crate::view::{RouteCompiler, View};

/// How many times a publication is rebuilt when another one got in first (each rebuild
/// starts from what that one published, so two are enough unless identities keep changing).
const MAX_PUBLISH_ATTEMPTS: usize = 4;

/// The registry side of one gateway listener: its registry source, the current [`View`]
/// and the listener's gateway settings.
///
/// Views are published in one place (a compare-and-set on the view channel), which only ever
/// replaces the current view with one compiled from a newer registry state (source
/// generation, then version) or newer route identities, never older in either: a slow
/// compile that started from an older snapshot (a [`recompile`](Self::recompile) after a
/// certificate reload racing the registry watcher) cannot bring a revoked certificate back.
/// Compiling is blocking and runs on the blocking pool.
pub struct Tenancy {
    pub(crate) listener: Name,
    /// The registry's path, for logs.
    pub(crate) registry_path: PathBuf,
    /// Where snapshots come from (blocking: only touched on the blocking pool or at start).
    pub(crate) source: Arc<dyn SnapshotSource>,
    pub(crate) view: watch::Sender<Arc<View>>,
    /// The view `view` holds, for readers that only want the current one (every request):
    /// a lock-free load instead of the channel's read lock. Stored under the channel's lock
    /// in [`Tenancy::publish`], so it never goes back.
    latest: ArcSwap<View>,
    pub(crate) settings: GatewaySettings,
    /// The target options and route identities HTTP targets are compiled with (shared with
    /// every view).
    pub(crate) compiler: Arc<RouteCompiler>,
    pub(crate) metrics: Arc<Metrics>,
    /// How the registry polls have gone, for `/readyz` and the staleness metrics.
    health: Mutex<ReadHealth>,
    /// The newest registry state the current view answers for without being rebuilt:
    /// changes the data plane does not read (an enrollment token created) move it past the
    /// view's own version. See [`Tenancy::answered`].
    covered: Mutex<Covered>,
}

/// A registry state `(generation, version)` whose changes since the view's version were
/// all ones the data plane does not read.
#[derive(Debug, Clone, Copy, Default)]
struct Covered {
    generation: u64,
    version: u64,
}

/// The outcome of the registry polls so far.
#[derive(Debug)]
struct ReadHealth {
    /// When the registry was last read successfully.
    last_success: Instant,
    /// Since when every poll has failed, and the last error; `None` while reads succeed.
    failing: Option<(Instant, String)>,
    /// Since when the registry failed its integrity check, and why: sticky (reads that
    /// succeed afterwards do not clear it; a restart or a replaced file checks again).
    corrupt: Option<(Instant, String)>,
}

/// The registry of a gateway listener has been unreadable for longer than its
/// `registry_staleness`: the listener still serves the last snapshot it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRegistry {
    /// The registry's path.
    pub registry: PathBuf,
    /// The version of the snapshot still served.
    pub version: u64,
    /// How long every read has failed.
    pub failing_for: Duration,
    /// The last read error.
    pub error: String,
}

// === impl Tenancy ===

impl Tenancy {
    /// Reaches the registry through `source` and builds the first view (blocking: call at
    /// start only). `registry_path` only names the registry in errors and logs; `metrics`
    /// receives the listener's registry and tenant series (the series with a fixed label
    /// set start at 0); `identities` are the client identities its HTTP routes may name.
    pub fn open(
        config: &ListenerConfig,
        settings: GatewaySettings,
        registry_path: PathBuf,
        source: Option<Arc<dyn SnapshotSource>>,
        metrics: Arc<Metrics>,
        identities: Option<Arc<RouteIdentities>>,
    ) -> Result<Self, RegistryStartError> {
        let source = source.ok_or(RegistryStartError::Missing)?;
        let opening = Instant::now();
        // The first call opens the registry (the SQLite source opens lazily): its errors
        // are the "cannot open" ones.
        source
            .version()
            .map_err(|source| RegistryStartError::Open {
                path: registry_path.clone(),
                source: Box::new(source),
            })?;
        let generation = source.generation();
        let snapshot = source
            .snapshot()
            .map_err(|source| RegistryStartError::Snapshot {
                path: registry_path.clone(),
                source: Box::new(source),
            })?;
        let read = opening.elapsed();
        let listener: Name = config.name.as_str().into();
        let options = TargetOptions {
            default_timeout: settings.request_timeout,
            dial_timeout: config.limits.dial_timeout,
            upgrade_idle_timeout: config.limits.idle_timeout,
            counters: upstream_counters(&metrics, &listener),
            ..TargetOptions::default()
        };
        let compiler = Arc::new(RouteCompiler::new(options, listener.clone(), identities));
        let compiling = Instant::now();
        let (tenants, version) = (snapshot.tenant_count(), snapshot.version());
        let view = View::build(snapshot, generation, None, &metrics, &compiler);
        info!(
            listener = %listener, registry = %registry_path.display(), version, tenants,
            routes = view.policy.table().len(), read_ms = read.as_millis(),
            compile_ms = compiling.elapsed().as_millis(),
            "registry read and compiled"
        );
        let view = Arc::new(view);
        let tenancy = Self {
            listener,
            registry_path,
            source,
            latest: ArcSwap::new(view.clone()),
            view: watch::Sender::new(view),
            settings,
            compiler,
            metrics,
            health: Mutex::new(ReadHealth {
                last_success: Instant::now(),
                failing: None,
                corrupt: None,
            }),
            covered: Mutex::new(Covered::default()),
        };
        tenancy.init_series();
        tenancy.record_version();
        tenancy.record_staleness(Instant::now());
        Ok(tenancy)
    }

    /// The current view (cheap: a lock-free `Arc` load; no lock is taken).
    pub fn current(&self) -> Arc<View> {
        self.latest.load_full()
    }

    /// A receiver of the views this listener publishes (the current one marked seen): it
    /// wakes on every registry change the listener takes in.
    pub fn subscribe(&self) -> watch::Receiver<Arc<View>> {
        self.view.subscribe()
    }

    /// Compiles the current snapshot again under the route identities now (after they were
    /// reloaded, so that routes naming one get fresh client configs), and publishes it unless
    /// a newer view was published meanwhile that already has them. Blocking (reads route CA
    /// files): call it on the blocking pool, never on a runtime worker.
    pub fn recompile(&self) {
        self.compile_and_publish(None);
    }

    /// Builds a view from `read` (a snapshot and the source generation it was read at), or
    /// from the current view's snapshot when `read` is older or `None`, under the current
    /// route identities, and publishes it. When another publication got in first, starts
    /// again from the newer of the two. Returns the view published, or `None` when the
    /// current view already is as new as it would be. Blocking.
    pub(crate) fn compile_and_publish(&self, read: Option<(Snapshot, u64)>) -> Option<Arc<View>> {
        let mut read = read;
        for _ in 0..MAX_PUBLISH_ATTEMPTS {
            let current = self.current();
            let (snapshot, generation) = match read.take() {
                Some((snapshot, generation))
                    if (generation, snapshot.version()) > current.stamp.registry() =>
                {
                    (snapshot, generation)
                }
                _ => (current.snapshot().clone(), current.stamp.generation),
            };
            let identities = self.compiler.identities_generation();
            if (generation, snapshot.version()) == current.stamp.registry()
                && identities <= current.stamp.identities
            {
                return None;
            }
            let view = View::build(
                snapshot.clone(),
                generation,
                Some(&current),
                &self.metrics,
                &self.compiler,
            );
            match self.publish(view) {
                Ok(published) => return Some(published),
                Err(newer) => {
                    debug!(listener = %self.listener, built = ?(generation, snapshot.version()), current = ?newer.stamp, "a newer view was published meanwhile; compiling again from it");
                    read = Some((snapshot, generation));
                }
            }
        }
        warn!(listener = %self.listener, "views kept being replaced while compiling; keeping the current one");
        None
    }

    /// Publishes the view of `snapshot` (read at `generation`): `base`'s snapshot with a
    /// delta applied that touched the `touched` tenants. While `base` is still the current
    /// view and the route identities did not move, only those tenants are recompiled
    /// ([`View::with_changes`]); otherwise (a view published meanwhile, new identities) the
    /// whole snapshot is compiled as [`compile_and_publish`](Self::compile_and_publish)
    /// does. Returns the view published, if any. Blocking.
    pub(crate) fn publish_changes(
        &self,
        base: &Arc<View>,
        snapshot: Snapshot,
        generation: u64,
        touched: &[TenantId],
    ) -> Option<Arc<View>> {
        let current = self.current();
        if Arc::ptr_eq(&current, base)
            && self.compiler.identities_generation() == current.stamp.identities
        {
            let view = base.with_changes(snapshot.clone(), generation, touched, &self.metrics);
            match self.publish(view) {
                Ok(published) => return Some(published),
                Err(newer) => {
                    debug!(listener = %self.listener, current = ?newer.stamp, "a newer view was published while a change was applied; compiling the whole snapshot");
                }
            }
        }
        self.compile_and_publish(Some((snapshot, generation)))
    }

    /// Publishes `view` if its stamp supersedes the current view's (compare-and-set under
    /// the channel's lock); otherwise returns the current view, which is newer in some way.
    pub(crate) fn publish(&self, view: View) -> Result<Arc<View>, Arc<View>> {
        let view = Arc::new(view);
        let mut refused = None;
        self.view.send_if_modified(|current| {
            if view.stamp.supersedes(&current.stamp) {
                *current = view.clone();
                self.latest.store(view.clone());
                true
            } else {
                refused = Some(current.clone());
                false
            }
        });
        match refused {
            None => {
                self.record_version();
                Ok(view)
            }
            Some(current) => Err(current),
        }
    }

    /// The registry's path, for logs.
    pub fn registry_path(&self) -> &Path {
        &self.registry_path
    }

    /// `Some` while the registry has been unreadable for longer than the listener's
    /// `registry_staleness` at `now`: what `/readyz` reports.
    pub fn stale_registry(&self, now: Instant) -> Option<StaleRegistry> {
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((since, error)) = &health.corrupt {
            return Some(StaleRegistry {
                registry: self.registry_path.clone(),
                version: self.current().snapshot().version(),
                failing_for: now.saturating_duration_since(*since),
                error: error.clone(),
            });
        }
        let (since, error) = health.failing.as_ref()?;
        let failing_for = now.saturating_duration_since(*since);
        (now.saturating_duration_since(health.last_success) > self.settings.registry_staleness)
            .then(|| StaleRegistry {
                registry: self.registry_path.clone(),
                version: self.current().snapshot().version(),
                failing_for,
                error: error.clone(),
            })
    }

    /// Refreshes `mtlsd_registry_read_age_seconds` and `mtlsd_registry_stale` for `now`
    /// (the watcher does after every poll, the admin endpoint at scrape time).
    pub fn record_staleness(&self, now: Instant) {
        let age = {
            let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
            now.saturating_duration_since(health.last_success)
        };
        let label = ListenerLabel {
            listener: self.listener.clone(),
        };
        self.metrics
            .registry_read_age
            .get_or_create(&label)
            .set(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        self.metrics
            .registry_stale
            .get_or_create(&label)
            .set(i64::from(age > self.settings.registry_staleness));
    }

    /// Notes that the registry failed its integrity check at `now` ([`stale_registry`]
    /// reports it from now on, whatever the reads after).
    ///
    /// [`stale_registry`]: Self::stale_registry
    pub(crate) fn integrity_failed(&self, now: Instant, error: String) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.corrupt = Some((now, error));
    }

    /// Notes a successful registry read at `now`.
    pub(crate) fn read_succeeded(&self, now: Instant) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.last_success = now;
        health.failing = None;
    }

    /// Notes a failed registry read at `now`.
    pub(crate) fn read_failed(&self, now: Instant, error: String) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let since = health.failing.as_ref().map_or(now, |(since, _)| *since);
        health.failing = Some((since, error));
    }

    /// The registry version the current view answers for: its own, or a later one when
    /// every change since was one the data plane does not read ([`Tenancy::cover`]). What
    /// the watcher compares the registry's version with, and what
    /// `mtlsd_registry_version` reports (so a change is "live" by that gauge once it is
    /// in effect, whether or not it needed a new view).
    pub(crate) fn answered(&self) -> u64 {
        let stamp = self.current().stamp;
        let covered = *self.covered.lock().unwrap_or_else(PoisonError::into_inner);
        if covered.generation == stamp.generation {
            covered.version.max(stamp.version)
        } else {
            stamp.version
        }
    }

    /// Records that the changes up to `version` of the registry copy `generation` left the
    /// data plane's state as the current view has it (they were all listed by the change log,
    /// from [`Tenancy::answered`] on, and none of them affects the data plane).
    pub(crate) fn cover(&self, generation: u64, version: u64) {
        *self.covered.lock().unwrap_or_else(PoisonError::into_inner) = Covered {
            generation,
            version,
        };
        self.record_version();
    }

    pub(crate) fn record_version(&self) {
        let version = self.answered();
        self.metrics
            .registry_version
            .get_or_create(&ListenerLabel {
                listener: self.listener.clone(),
            })
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    /// Creates the listener's registry and tenant counters whose label values are known in
    /// advance at 0, so that an alert on their increase fires on the first one.
    fn init_series(&self) {
        start_at_zero(
            &self.metrics.registry_reloads,
            ["success", "failure"].map(|result| ResultLabel {
                listener: self.listener.clone(),
                result,
            }),
        );
        let reason = |reason| ReasonLabel {
            listener: self.listener.clone(),
            reason,
        };
        let admission = [
            AdmissionRefusal::NoTenant,
            AdmissionRefusal::AdminCertificate,
            AdmissionRefusal::CertificateExpired,
            AdmissionRefusal::CertificateNotYetValid,
        ]
        .into_iter()
        .chain(Refusal::ALL.into_iter().map(AdmissionRefusal::Registry))
        .map(AdmissionRefusal::as_str);
        start_at_zero(
            &self.metrics.tenant_connections_closed,
            admission.clone().map(reason),
        );
        start_at_zero(
            &self.metrics.tenant_refusals,
            admission.chain(["max_connections"]).map(reason),
        );
    }
}

/// The listener's `mtlsd_dial_errors_total` and `mtlsd_bytes_proxied_total` series: failed
/// dials of HTTP routes, TCP routes and CONNECT tunnels (destination refusals included), and
/// the bytes of HTTP upstream connections and TCP routes.
fn upstream_counters(metrics: &Metrics, listener: &Name) -> UpstreamCounters {
    let direction = |direction| DirectionLabel {
        listener: listener.clone(),
        direction,
    };
    // One statement per series: `get_or_create` holds a read guard until the statement ends.
    let dial_errors = metrics
        .dial_errors
        .get_or_create(&ListenerLabel {
            listener: listener.clone(),
        })
        .clone();
    let client_to_upstream = metrics
        .bytes_proxied
        .get_or_create(&direction("client_to_upstream"))
        .clone();
    let upstream_to_client = metrics
        .bytes_proxied
        .get_or_create(&direction("upstream_to_client"))
        .clone();
    UpstreamCounters {
        dial_errors,
        client_to_upstream,
        upstream_to_client,
    }
}
