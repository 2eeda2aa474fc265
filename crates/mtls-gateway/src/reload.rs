//! Certificate hot reload: a file watcher (debounced) and SIGHUP.
//!
//! The watcher observes the *directories* of the certificate, key and CA files, not the
//! files: editors and `mv` replace a file by renaming a new one over it, and Kubernetes
//! swaps a `..data` symlink; both are invisible to a watch on the old inode. Events for one
//! of our file names, or for a `..`-prefixed entry (the Kubernetes swap), trigger a reload
//! once the directory has been quiet for the debounce period.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info};

use crate::error::{ErrorChain, StartError};
use crate::state::ListenerState;
use mtls_config::ReloadConfig;

/// Longest a stream of file events may postpone a reload, in debounce periods.
const MAX_DEBOUNCE_ROUNDS: u32 = 20;

/// Starts watching the directories of `files`; events poke `trigger`.
pub(crate) fn watch_files(
    files: &[PathBuf],
    trigger: Arc<Notify>,
) -> Result<RecommendedWatcher, StartError> {
    let names: HashSet<OsString> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_owned()))
        .collect();
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        })
        .collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reads (ours included: a reload opens every file) and metadata updates are noise.
        let changes = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any
        ) || matches!(event.kind, EventKind::Modify(m) if !matches!(m, ModifyKind::Metadata(_)));
        let relevant = changes
            && event.paths.iter().any(|p| {
                p.file_name()
                    .is_some_and(|n| names.contains(n) || n.to_string_lossy().starts_with(".."))
            });
        if relevant {
            trigger.notify_one();
        }
    })
    .map_err(|source| StartError::Watch {
        dir: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        source,
    })?;
    for dir in &dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|source| StartError::Watch {
                dir: dir.display().to_string(),
                source,
            })?;
    }
    Ok(watcher)
}

pub(crate) fn sighup() -> Result<Signal, StartError> {
    signal(SignalKind::hangup()).map_err(|source| StartError::Signal {
        signal: "SIGHUP",
        source,
    })
}

/// Reloads every listener; failures keep the old material and are logged.
pub(crate) fn reload_all(listeners: &[Arc<ListenerState>], cause: &str) {
    for l in listeners {
        match l.reload() {
            Ok(()) => {
                let certs: Vec<String> = l
                    .cert_infos()
                    .iter()
                    .map(|(side, i)| match &i.identity {
                        Some(identity) => format!(
                            "{}[{identity}]={} serial {}",
                            side.as_str(),
                            i.path.display(),
                            i.serial
                        ),
                        None => {
                            format!("{}={} serial {}", side.as_str(), i.path.display(), i.serial)
                        }
                    })
                    .collect();
                info!(listener = l.name(), cause, certificates = ?certs, "certificates reloaded");
            }
            Err((side, e)) => error!(
                listener = l.name(),
                cause,
                side = side.as_str(),
                error = %ErrorChain(&e),
                "certificate reload rejected; still serving the previous certificates"
            ),
        }
    }
}

/// Runs until `shutdown`: reloads on SIGHUP at once, on file events after the debounce.
pub(crate) async fn run(
    listeners: Vec<Arc<ListenerState>>,
    config: ReloadConfig,
    trigger: Arc<Notify>,
    mut hup: Signal,
    mut shutdown: watch::Receiver<bool>,
    watcher: Option<RecommendedWatcher>,
) {
    // The watcher stops when dropped: keep it for the life of this task.
    let _watcher = watcher;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP received, reloading certificates");
                reload_off_runtime(&listeners, "sighup").await;
            }
            _ = trigger.notified() => {
                debug!("certificate file changed, waiting for it to settle");
                debounce(&trigger, config.debounce).await;
                reload_off_runtime(&listeners, "file_change").await;
            }
            _ = crate::tracker::stopped(&mut shutdown) => return,
        }
    }
}

/// [`reload_all`] on the blocking pool: reading the files and compiling the registry views
/// again must not hold up a runtime worker (handshakes, requests).
async fn reload_off_runtime(listeners: &[Arc<ListenerState>], cause: &'static str) {
    let listeners = listeners.to_vec();
    if let Err(e) = tokio::task::spawn_blocking(move || reload_all(&listeners, cause)).await {
        error!(cause, error = %e, "certificate reload task failed");
    }
}

async fn debounce(trigger: &Notify, quiet: Duration) {
    for _ in 0..MAX_DEBOUNCE_ROUNDS {
        tokio::select! {
            _ = trigger.notified() => continue,
            _ = tokio::time::sleep(quiet) => return,
        }
    }
}

/// The files of every listener, deduplicated.
pub(crate) fn all_files(listeners: &[Arc<ListenerState>]) -> Vec<PathBuf> {
    let set: BTreeSet<PathBuf> = listeners.iter().flat_map(|l| l.watched_files()).collect();
    set.into_iter().collect()
}

/// Until `shutdown`: empties the verified-chain cache of a gateway listener's inbound side
/// every time its tenancy publishes a new registry view, so that no chain verified before a
/// registry change skips verification after it (`docs/verified-chain-cache.md`). A CA reload
/// needs nothing here: it builds a new verifier with an empty cache.
pub(crate) async fn clear_verified_chains_on_registry_change(
    state: Arc<ListenerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (Some(tenancy), Some(inbound)) = (&state.tenancy, &state.inbound) else {
        return;
    };
    let mut views = tenancy.subscribe();
    loop {
        tokio::select! {
            changed = views.changed() => {
                if changed.is_err() {
                    return;
                }
                if let Some(cache) = &inbound.load().verified_chains {
                    cache.clear();
                    debug!(listener = state.name(), "registry changed: verified client chains forgotten");
                }
            }
            _ = crate::tracker::stopped(&mut shutdown) => return,
        }
    }
}
