//! Issue 17's scale-out with real processes: a real PostgreSQL server (started from
//! `initdb` on a loopback port), one registry in it made by the real `tenantctl
//! --registry`, and three `mtlsd` gateway replicas serving it; replica 1 also serves the
//! control API.
//!
//! - A route added through replica 1's control API answers through replicas 2 and 3 within
//!   1 s of the API's answer; a certificate revoked there is refused by all three within
//!   1 s.
//! - With the database stopped, every replica keeps serving its last view, `/readyz` turns
//!   503 once the staleness bound has passed and says why, `mtlsd_registry_stale` is 1;
//!   when the database returns, the replicas are ready again and follow new changes.
//! - The replicas' certificates, signed by any replica's control API at once, have
//!   distinct serials, and the audit chain verifies.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mtls_control_api::{Limits, RevokeRequest, TenantCreate};
use mtls_control_client::{ControlClient, TlsMaterial};
use mtls_registry::Store;
use mtls_registry_postgres::PostgresStore;
use mtls_test_postgres::PgServer;
use serde_json::json;
use support::Mtlsd;
use support::tenants::{DataDir, get, named_backend, serial_of, tenantctl};

/// Replica config: the shared registry (in the file), a gateway listener that polls
/// every 250 ms and is stale after 2 s, health and metrics, and the control API when
/// `control` (with enrollment limits generous enough for many apps from 127.0.0.1).
fn replica_config(data: &DataDir, control: bool) -> String {
    let gateway = "\n[listener.gateway]\npoll_interval = \"250ms\"\nregistry_staleness = \"2s\"\n";
    let mut config = data.config(gateway);
    if control {
        config.push_str(
            "\n[control]\nlisten = \"127.0.0.1:0\"\n\n[control.rate_limits]\n\
             enroll_per_ip_per_minute = 6000\nenroll_per_ip_burst = 100\n",
        );
    }
    config
}

/// A PostgreSQL server of this test's own (it is stopped in one test), a registry in a new
/// database made by `tenantctl --registry`, and an admin certificate for `ops`.
struct Setup {
    server: PgServer,
    url: String,
    data: DataDir,
    admin: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let server = PgServer::start();
        let url = server.database();
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::init_with(tmp.path(), Some(&url));
        let admin = tmp.path().join("admin");
        data.ctl(&["admin", "issue", "ops", "--out", admin.to_str().unwrap()]);
        Self {
            server,
            url,
            data,
            admin,
            _tmp: tmp,
        }
    }

    fn replicas(&self, n: usize, control: impl Fn(usize) -> bool) -> Vec<Mtlsd> {
        (1..=n)
            .map(|i| {
                let config = replica_config(&self.data, control(i));
                Mtlsd::start(&self.data.tmp, &format!("replica{i}.toml"), &config)
            })
            .collect()
    }

    fn admin_of(&self, replica: &Mtlsd) -> ControlClient {
        client(&control_url(replica), &self.data.ca(), &self.admin)
    }
}

fn control_url(replica: &Mtlsd) -> String {
    format!("https://localhost:{}", replica.addr("control").port())
}

fn client(url: &str, ca: &Path, dir: &Path) -> ControlClient {
    let tls =
        TlsMaterial::from_files(ca, Some((&dir.join("cert.pem"), &dir.join("key.pem")))).unwrap();
    ControlClient::new(url, &tls).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// How long until `f` holds on every replica (polling every 20 ms, giving up after 10 s).
fn on_all(replicas: &[Mtlsd], what: &str, f: impl Fn(&Mtlsd) -> bool) -> Duration {
    let start = Instant::now();
    let mut pending: Vec<&Mtlsd> = replicas.iter().collect();
    while !pending.is_empty() {
        pending.retain(|r| !f(r));
        if start.elapsed() > Duration::from_secs(10) {
            panic!(
                "{what}: not on every replica after 10 s; stderr of one:\n{}",
                pending[0].stderr()
            );
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    start.elapsed()
}

fn gw_port(r: &Mtlsd) -> u16 {
    r.addr("gw").port()
}

/// How long until every replica serves the registry's current version (its
/// `mtlsd_registry_version` gauge): the time a change takes to go live, without the
/// seconds a `curl` per replica would add to it.
fn version_live(replicas: &[Mtlsd], store: &PostgresStore, what: &str) -> Duration {
    let version = Store::version(store).unwrap() as f64;
    on_all(replicas, what, |r| {
        r.metric("mtlsd_registry_version{listener=\"gw\"}")
            .is_some_and(|v| v >= version)
    })
}

#[test]
fn three_replicas_share_one_postgres_registry() {
    let setup = Setup::new();
    let (server, url, reg) = (&setup.server, &setup.url, &setup.data);
    let replicas = setup.replicas(3, |i| i == 1);
    for r in &replicas {
        assert!(
            !r.stderr().contains("registry.db"),
            "a PostgreSQL replica named the SQLite file:\n{}",
            r.stderr()
        );
        r.wait_log("listening for registry changes");
    }
    let admin = setup.admin_of(&replicas[0]);
    let rt = runtime();

    // Tenant a (private routes allowed: its upstream is on loopback), certificate by the CLI.
    rt.block_on(admin.create_tenant(&TenantCreate {
        id: "a".into(),
        display_name: "Tenant a".into(),
        limits: Some(Limits {
            allow_private: true,
            ..Limits::default()
        }),
    }))
    .unwrap();
    let a = reg.issue("a", "a");
    let upstream = named_backend("a-upstream");

    // 1. A route added through replica 1's API answers through 2 and 3 within 1 s.
    let route = json!({
        "kind": "http", "host": "app.a.test",
        "upstreams": [format!("http://{upstream}")], "allow_private": true,
    });
    let store = PostgresStore::open(url).unwrap();
    rt.block_on(admin.add_route("a", &route)).unwrap();
    let live = version_live(&replicas, &store, "the new route");
    eprintln!("route added on replica 1: live on all three after {live:?}");
    assert!(live <= Duration::from_secs(1), "took {live:?}");
    for r in &replicas {
        assert_eq!(get(&a, &reg.ca(), gw_port(r), "app.a.test", "/").0, 200);
    }
    let (status, body) = get(&a, &reg.ca(), gw_port(&replicas[2]), "app.a.test", "/");
    assert_eq!((status, body.as_str()), (200, "a-upstream for a\n"));

    // 2. A certificate revoked through replica 1 is refused by all three within 1 s; a
    //    second certificate of a, issued before, still works everywhere.
    let a2 = reg.issue("a", "a2");
    on_all(&replicas, "a's second certificate", |r| {
        get(&a2, &reg.ca(), gw_port(r), "app.a.test", "/").0 == 200
    });
    let serial = serial_of(&a.cert).to_string();
    rt.block_on(admin.revoke_cert(&serial, &RevokeRequest { reason: None }))
        .unwrap();
    let refused = version_live(&replicas, &store, "the revocation");
    eprintln!("certificate revoked on replica 1: refused on all three after {refused:?}");
    assert!(refused <= Duration::from_secs(1), "took {refused:?}");
    for r in &replicas {
        assert_ne!(get(&a, &reg.ca(), gw_port(r), "app.a.test", "/").0, 200);
        assert_eq!(get(&a2, &reg.ca(), gw_port(r), "app.a.test", "/").0, 200);
    }

    // 3. The database goes away: traffic keeps flowing on every replica, /readyz says
    //    the registry is stale once the 2 s bound has passed.
    for r in &replicas {
        assert_eq!(r.get("health+metrics", "/readyz").0, 200);
    }
    server.stop();
    let stopped = Instant::now();
    on_all(&replicas, "/readyz 503 with the database down", |r| {
        let (status, body) = r.get("health+metrics", "/readyz");
        status == 503 && body.contains("registry")
    });
    assert!(
        stopped.elapsed() >= Duration::from_secs(2),
        "503 before the staleness bound"
    );
    for r in &replicas {
        assert_eq!(r.metric("mtlsd_registry_stale{listener=\"gw\"}"), Some(1.0));
        let (status, body) = get(&a2, &reg.ca(), gw_port(r), "app.a.test", "/");
        assert_eq!((status, body.as_str()), (200, "a-upstream for a\n"));
        // The revocation made before the outage still holds.
        assert_ne!(get(&a, &reg.ca(), gw_port(r), "app.a.test", "/").0, 200);
        assert!(
            r.stderr()
                .contains("lost the registry's change notifications")
        );
    }

    // 4. The database returns: ready again, and a change made now reaches all three.
    server.resume();
    on_all(&replicas, "/readyz 200 after the database returned", |r| {
        r.get("health+metrics", "/readyz").0 == 200
    });
    for r in &replicas {
        assert_eq!(r.metric("mtlsd_registry_stale{listener=\"gw\"}"), Some(0.0));
    }
    let removed = rt.block_on(admin.routes("a")).unwrap();
    rt.block_on(admin.remove_route("a", &removed[0].id))
        .unwrap();
    let gone = version_live(&replicas, &store, "the route removal after the outage");
    assert!(gone <= Duration::from_secs(1), "took {gone:?}");
    for r in &replicas {
        assert_ne!(get(&a2, &reg.ca(), gw_port(r), "app.a.test", "/").0, 200);
    }

    // Every change is in the one chain, which verifies.
    let verified = store.verify_audit().unwrap();
    assert!(verified.events >= 8, "{verified:?}");
    let out = reg.ctl(&["audit", "verify"]);
    assert!(
        out.contains(&format!("Audit log intact: {} events", verified.events)),
        "{out}"
    );
}

/// Two replicas with the control API, enrolling many apps at once (through both): one
/// signer at a time (the registry's write lock), every serial distinct, every certificate
/// recorded, and the chain verifies.
#[test]
fn replicas_signing_at_once_never_share_a_serial() {
    let setup = Setup::new();
    let (url, reg) = (&setup.url, &setup.data);
    reg.ctl(&["tenant", "create", "t", "--name", "t"]);
    let replicas = setup.replicas(2, |_| true);
    let api: Vec<String> = replicas.iter().map(control_url).collect();
    let admin = setup.admin_of(&replicas[0]);
    let rt = runtime();
    let apps = 30;
    let tokens: Vec<String> = (0..apps)
        .map(|_| {
            rt.block_on(
                admin.create_token("t", &mtls_control_api::TokenCreate { ttl_seconds: 600 }),
            )
            .unwrap()
            .token
        })
        .collect();
    // Every app enrolls at once, half through each replica.
    let serials: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let (server, ca) = (&api[i % 2], reg.ca());
                let dir = reg.tmp.join(format!("app{i}"));
                scope.spawn(move || {
                    let out = Command::new(tenantctl())
                        .args(["enroll", "--server", server, "--token", token, "--ca"])
                        .arg(ca)
                        .arg("--out")
                        .arg(&dir)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "enroll through {server}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    serial_of(&dir.join("cert.pem")).to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut distinct = serials.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), apps, "a serial was issued twice");
    let store = PostgresStore::open(url).unwrap();
    let recorded: Vec<String> = store
        .certificates(Some(&"t".parse().unwrap()))
        .unwrap()
        .iter()
        .map(|c| c.serial.to_string())
        .collect();
    for serial in &serials {
        assert!(recorded.contains(serial), "{serial} not recorded");
    }
    store.verify_audit().unwrap();
}

/// `mtlsd --check` on a PostgreSQL registry reads and writes nothing: a current schema
/// passes; one older than this build's is reported (exit 2) and left as it was.
#[test]
fn check_on_a_postgres_registry_migrates_nothing() {
    let setup = Setup::new();
    let config = setup.data.tmp.join("check.toml");
    std::fs::write(&config, replica_config(&setup.data, true)).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_mtlsd"))
            .arg("--config")
            .arg(&config)
            .arg("--check")
            .output()
            .unwrap()
    };
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 0 once the only migration's row is gone.
    let newest = || -> i32 {
        PgServer::client(&setup.url)
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let current = newest();
    PgServer::client(&setup.url)
        .execute(
            "DELETE FROM schema_migrations WHERE version = $1",
            &[&current],
        )
        .unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "has schema version {}; this build needs {current}",
            current - 1
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&setup.url),
        "the URL is shown redacted: {stderr}"
    );
    assert_eq!(newest(), current - 1, "--check migrated the schema");
}
