//! The gateway's registry side from the outside: the data plane never changes the registry
//! file (`mtlsd` and `mtlsd --check` only read it, and refuse one they would have to
//! migrate), `/readyz` turns 503 while the registry stays unreadable for longer than
//! `registry_staleness` (traffic keeps flowing on the last snapshot), and counters with a
//! fixed label set are exported at 0 from the start.

mod support;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use mtls_registry::Store;
use support::tenants::{DataDir, actor, get, http_route, named_backend, tenant};
use support::{Mtlsd, wait_for};

/// What a reader could change about a file: its bytes (length and hash), mode and
/// modification time.
#[derive(Debug, PartialEq, Eq)]
struct FileState {
    len: usize,
    hash: u64,
    mode: u32,
    modified: std::time::SystemTime,
}

fn state_of(path: &Path) -> FileState {
    let meta = std::fs::metadata(path).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    FileState {
        len: bytes.len(),
        hash: hasher.finish(),
        mode: meta.permissions().mode() & 0o7777,
        modified: meta.modified().unwrap(),
    }
}

/// The schema version stored in the registry file.
fn schema_version(db: &Path) -> u32 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap()
}

/// `mtlsd --config <path> --check`: (success, stderr).
fn check(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(path)
        .arg("--check")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mtlsd_and_its_check_leave_the_registry_file_as_they_found_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let store = data.store();
    store
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("up-a")),
        )
        .unwrap();
    drop(store);
    // Group-readable, as for an mtlsd running under its own user in the registry's group.
    let db = data.root.join("registry.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = state_of(&db);
    let schema = schema_version(&db);

    let config = tmp.path().join("mtlsd.toml");
    std::fs::write(&config, data.config("")).unwrap();
    let (ok, stderr) = check(&config);
    assert!(ok, "mtlsd --check failed: {stderr}");
    assert_eq!(
        state_of(&db),
        before,
        "mtlsd --check changed the registry file"
    );

    let mut gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    assert_eq!(
        get(&a, &data.ca(), gw.addr("gw").port(), "a.localhost", "/"),
        (200, "up-a for a\n".into())
    );
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(), 0, "{}", gw.stderr());
    assert_eq!(state_of(&db), before, "mtlsd changed the registry file");
    assert_eq!(schema_version(&db), schema);
}

#[test]
fn a_registry_with_an_older_schema_is_refused_with_the_way_out_not_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let db = data.root.join("registry.db");
    let current = schema_version(&db);
    let older = current - 1;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE schema_version SET version = ?1", [older])
        .unwrap();
    drop(conn);
    let before = state_of(&db);

    let config = tmp.path().join("mtlsd.toml");
    std::fs::write(&config, data.config("")).unwrap();
    let (ok, stderr) = check(&config);
    assert!(!ok, "mtlsd --check accepted an older schema");
    assert!(
        stderr.contains(&format!("schema version {older}")) && stderr.contains("tenantctl"),
        "the error does not tell the operator what to do: {stderr}"
    );
    // mtlsd itself refuses to start the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenantctl"), "{stderr}");
    assert_eq!(state_of(&db), before, "the data plane touched the registry");
    assert_eq!(
        schema_version(&db),
        older,
        "the data plane migrated the schema"
    );
}

#[test]
fn readyz_turns_503_while_the_registry_stays_unreadable_and_traffic_keeps_flowing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("up-a")),
        )
        .unwrap();
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data
            .config("[listener.gateway]\npoll_interval = \"100ms\"\nregistry_staleness = \"1s\"\n"),
    );
    let port = gw.addr("gw").port();
    let ca = data.ca();
    // `ready` on stdout comes once bound, just before the listeners accept.
    wait_for("/readyz to turn 200", || {
        gw.get("health+metrics", "/readyz").0 == 200
    });
    assert_eq!(
        gw.metric(r#"mtlsd_registry_stale{listener="gw"}"#),
        Some(0.0)
    );

    // A corrupt file renamed over the registry (the real one kept under a second name):
    // every poll fails from now on, whoever runs the test (root included).
    let db = data.root.join("registry.db");
    let kept = data.root.join("kept.db");
    std::fs::hard_link(&db, &kept).unwrap();
    let corrupt = data.root.join("corrupt.db");
    std::fs::write(&corrupt, b"this is not an SQLite database, not even close").unwrap();
    std::fs::rename(&corrupt, &db).unwrap();
    gw.wait_log("cannot read the registry; keeping snapshot version");

    wait_for("/readyz to turn 503", || {
        gw.get("health+metrics", "/readyz").0 == 503
    });
    let (_, body) = gw.get("health+metrics", "/readyz");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let problems = ready["problems"].to_string();
    assert!(
        problems.contains("registry") && problems.contains(&db.display().to_string()),
        "{body}"
    );
    let stale = &ready["stale_registries"][0];
    assert_eq!(stale["listener"], "gw", "{body}");
    assert!(stale["serving_version"].as_u64().unwrap() >= 3, "{body}");
    assert!(stale["failing_for_seconds"].as_u64().is_some(), "{body}");
    assert!(
        stale["error"].as_str().unwrap().contains("corrupt"),
        "{body}"
    );
    assert_eq!(
        gw.metric(r#"mtlsd_registry_stale{listener="gw"}"#),
        Some(1.0)
    );
    assert!(
        gw.metric(r#"mtlsd_registry_read_age_seconds{listener="gw"}"#)
            .unwrap()
            >= 1.0
    );
    // Traffic still flows on the last snapshot.
    assert_eq!(
        get(&a, &ca, port, "a.localhost", "/"),
        (200, "up-a for a\n".into())
    );

    // The registry back: ready again.
    std::fs::rename(&kept, &db).unwrap();
    gw.wait_log("registry readable again");
    wait_for("/readyz to turn 200 again", || {
        gw.get("health+metrics", "/readyz").0 == 200
    });
    assert_eq!(
        gw.metric(r#"mtlsd_registry_stale{listener="gw"}"#),
        Some(0.0)
    );
}

#[test]
fn counters_with_a_fixed_label_set_are_exported_at_zero_from_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let (_, metrics) = gw.get("health+metrics", "/metrics");
    for series in [
        r#"mtlsd_cert_reloads_total{listener="gw",result="failure"} 0"#,
        r#"mtlsd_cert_reloads_total{listener="gw",result="success"} 0"#,
        r#"mtlsd_registry_reloads_total{listener="gw",result="failure"} 0"#,
        r#"mtlsd_registry_reloads_total{listener="gw",result="success"} 0"#,
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="unknown_ca"} 0"#,
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="no_client_cert"} 0"#,
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="timeout"} 0"#,
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="certificate_revoked"} 0"#,
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="no_tenant"} 0"#,
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="max_connections"} 0"#,
        r#"mtlsd_tenant_connections_closed_total{listener="gw",reason="tenant_suspended"} 0"#,
        r#"mtlsd_tenant_connections_closed_total{listener="gw",reason="certificate_expired"} 0"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == series),
            "{series} missing at start; /metrics:\n{metrics}"
        );
    }
}

/// Runs `mtlsd --config <config> --check` as a user who may read but not write the registry:
/// `nobody` (through `setpriv`) when the tests run as root, who would otherwise write
/// anything, else the current user, for whom the file's mode is enough. (success, stderr).
fn check_as_reader(config: &Path) -> (bool, String) {
    let mut cmd = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_mtlsd"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_mtlsd"))
    };
    let out = cmd
        .arg("--config")
        .arg(config)
        .arg("--check")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Gives the data dir (and the temp dir above it) to the reader, except the registry file:
/// readable only (0440, owned by root with the reader's group when running as root).
fn registry_readable_only(tmp: &Path, data: &Path) {
    let db = data.join("registry.db");
    if running_as_root() {
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        let nobody = 65534;
        for entry in walk(data) {
            std::os::unix::fs::chown(&entry, Some(nobody), Some(nobody)).unwrap();
        }
        std::os::unix::fs::chown(&db, Some(0), Some(nobody)).unwrap();
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o440)).unwrap();
}

/// `dir` and everything under it.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_data_plane_needs_only_read_access_to_the_registry_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    data.tenant("a");
    registry_readable_only(tmp.path(), &data.root);
    let db = data.root.join("registry.db");
    let before = state_of(&db);
    let config = tmp.path().join("mtlsd.toml");
    std::fs::write(&config, data.config("")).unwrap();

    let (ok, stderr) = check_as_reader(&config);
    assert!(
        ok,
        "mtlsd --check with a read-only registry file failed: {stderr}"
    );
    assert_eq!(state_of(&db), before);

    // The directory read-only too, and no -shm/-wal files left by a writer: SQLite cannot
    // read the WAL-mode file, and the error says why (not "corrupt").
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.root.join(format!("registry.db{suffix}")));
    }
    std::fs::set_permissions(&data.root, std::fs::Permissions::from_mode(0o555)).unwrap();
    let (ok, stderr) = check_as_reader(&config);
    std::fs::set_permissions(&data.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!ok, "opened without side files in a read-only directory?");
    assert!(
        stderr.contains("-shm") && stderr.contains("directory") && !stderr.contains("corrupt"),
        "{stderr}"
    );
    assert_eq!(state_of(&db), before);
}
