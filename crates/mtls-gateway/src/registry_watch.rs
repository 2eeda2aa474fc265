//! Registry file events: a commit to a gateway listener's registry (SQLite appends it to
//! `registry.db-wal`, or rewrites `registry.db` and its journal) nudges the registry
//! watchers at once, so a change made by another process (`tenantctl`, a control plane
//! elsewhere) reaches the data plane in milliseconds instead of at the next poll.
//!
//! Events are hints: the watchers still read the version to decide whether anything
//! changed, and keep polling on their interval, so a missed or dropped event (or a
//! filesystem without events) only delays a change to the next poll. Like the certificate
//! watcher, this watches the registry's directory (a registry replaced by a rename is a
//! new inode).

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use mtls_tenancy::watcher::RegistryNudge;
use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{info, warn};

use crate::error::ErrorChain;

/// The files a commit to the SQLite registry at `registry` writes: the database, its
/// write-ahead log and its rollback journal.
fn registry_files(registry: &Path) -> Vec<OsString> {
    let Some(name) = registry.file_name() else {
        return Vec::new();
    };
    ["", "-wal", "-journal"]
        .iter()
        .map(|suffix| {
            let mut file = name.to_owned();
            file.push(suffix);
            file
        })
        .collect()
}

/// Watches the directories of `registries`; a write to one of their files nudges
/// `nudge`. `None` (with a warning: changes then wait for the poll) when the watch cannot
/// be set up, e.g. when the system's inotify limits are reached.
pub(crate) fn watch(registries: &[PathBuf], nudge: RegistryNudge) -> Option<RecommendedWatcher> {
    if registries.is_empty() {
        return None;
    }
    let names: HashSet<OsString> = registries.iter().flat_map(|r| registry_files(r)).collect();
    let dirs: BTreeSet<PathBuf> = registries
        .iter()
        .map(|r| match r.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        })
        .collect();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reads (the watchers' own) and metadata updates are noise.
        let written = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any
        ) || matches!(event.kind, EventKind::Modify(m) if !matches!(m, ModifyKind::Metadata(_)));
        if written
            && event
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| names.contains(n)))
        {
            nudge.nudge();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(e) => {
            warn!(error = %ErrorChain(&e), "cannot watch the registry files; changes take effect at the next poll");
            return None;
        }
    };
    for dir in &dirs {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            warn!(dir = %dir.display(), error = %ErrorChain(&e), "cannot watch the registry's directory; its changes take effect at the next poll");
            return None;
        }
    }
    info!(dirs = ?dirs, "watching the registry files: changes take effect as they are committed");
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_is_its_database_its_log_and_its_journal() {
        let files = registry_files(Path::new("/var/lib/mtlsd/registry.db"));
        assert_eq!(
            files,
            ["registry.db", "registry.db-wal", "registry.db-journal"].map(OsString::from)
        );
    }

    /// A write next to the registry's files nudges; a write to another file of the same
    /// directory does not.
    #[test]
    fn a_write_to_the_registry_nudges_the_watchers() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry.db");
        let nudge = RegistryNudge::new();
        let mut nudged = nudge.subscribe();
        let _watcher = watch(std::slice::from_ref(&registry), nudge).expect("watch set up");

        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!nudged.has_changed().unwrap(), "an unrelated file nudged");

        std::fs::write(dir.path().join("registry.db-wal"), b"frame").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !nudged.has_changed().unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "no nudge within 10 s of a write to the registry's log"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        nudged.mark_unchanged();
    }
}
