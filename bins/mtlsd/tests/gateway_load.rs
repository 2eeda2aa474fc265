//! A reload under steady load loses no request: while one keep-alive connection and a stream
//! of fresh connections send requests through the gateway, the registry changes (routes of
//! the same and another tenant added and removed, another tenant suspended and resumed) and
//! mtlsd gets SIGHUP. Every request must succeed. Bounded in count and time; loopback only.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mtls_registry::{Store, TenantStatus};

use support::Mtlsd;
use support::tenants::{Conn, DataDir, actor, get, http_route, named_backend, tenant};

/// At most this many requests per client loop, and at most this long.
const MAX_REQUESTS: usize = 400;
const MAX_TIME: Duration = Duration::from_secs(20);

/// Changes go live in milliseconds (the registry's file events nudge the watcher): each
/// round of changes waits until both loads have made this many more requests, so that the
/// load really runs between the changes (fresh connections: two per round; at most
/// `ROUND_WAIT` per round).
const REQUESTS_PER_ROUND: usize = 5;
const ROUND_WAIT: Duration = Duration::from_secs(3);

/// Waits until `done` has moved `by` past `from`, or `ROUND_WAIT` has passed.
fn wait_for_requests(done: &AtomicUsize, from: usize, by: usize) {
    let deadline = Instant::now() + ROUND_WAIT;
    while done.load(Ordering::Relaxed) < from + by && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn registry_reloads_under_load_lose_no_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let _b = data.tenant("b");
    let store = data.store();
    let upstream = named_backend("steady");
    store
        .add_route(&actor(), &tenant("a"), http_route("a.localhost", upstream))
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let addr = gw.addr("gw");
    let ca = data.ca();
    let stop = Arc::new(AtomicBool::new(false));
    let (ka_done, fresh_done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    // Load 1: one keep-alive connection, requests back to back.
    let keepalive = {
        let (stop, a, ca, done) = (stop.clone(), a.clone(), ca.clone(), ka_done.clone());
        std::thread::spawn(move || {
            let mut conn = Conn::open(addr, &a, &ca);
            conn.set_read_timeout(Duration::from_secs(10));
            let (mut ok, mut failed) = (0usize, Vec::new());
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed)
                && ok + failed.len() < MAX_REQUESTS
                && start.elapsed() < MAX_TIME
            {
                match conn.get("a.localhost", "/steady") {
                    Ok((200, body)) if body == "steady for a\n" => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (ok, failed)
        })
    };
    // Load 2: a new TLS connection (curl) per request.
    let fresh = {
        let (stop, a, ca, done) = (stop.clone(), a.clone(), ca.clone(), fresh_done.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0usize, Vec::new());
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed)
                && ok + failed.len() < MAX_REQUESTS
                && start.elapsed() < MAX_TIME
            {
                match get(&a, &ca, addr.port(), "a.localhost", "/fresh") {
                    (200, body) if body == "steady for a\n" => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (ok, failed)
        })
    };

    // The changes: each one is a new registry version the gateway must publish.
    let other = named_backend("other");
    let mut changes = 0;
    for round in 0..5 {
        let (ka_from, fresh_from) = (
            ka_done.load(Ordering::Relaxed),
            fresh_done.load(Ordering::Relaxed),
        );
        // Each step waits until the gateway serves the version it wrote, so every change is
        // published (and the load runs against it) before the next one lands.
        let extra = store
            .add_route(
                &actor(),
                &tenant("a"),
                http_route(&format!("extra{round}.localhost"), other),
            )
            .unwrap();
        store
            .add_route(
                &actor(),
                &tenant("b"),
                http_route(&format!("b{round}.localhost"), other),
            )
            .unwrap();
        gw.wait_registry_version("gw", store.version().unwrap());
        store
            .set_tenant_status(&actor(), &tenant("b"), TenantStatus::Suspended)
            .unwrap();
        store.remove_route(&actor(), &extra.id).unwrap();
        gw.signal("HUP");
        gw.wait_registry_version("gw", store.version().unwrap());
        store
            .set_tenant_status(&actor(), &tenant("b"), TenantStatus::Active)
            .unwrap();
        gw.wait_registry_version("gw", store.version().unwrap());
        changes += 5;
        wait_for_requests(&ka_done, ka_from, REQUESTS_PER_ROUND);
        wait_for_requests(&fresh_done, fresh_from, 2);
    }
    stop.store(true, Ordering::Relaxed);
    let (ka_ok, ka_failed) = keepalive.join().unwrap();
    let (fresh_ok, fresh_failed) = fresh.join().unwrap();

    assert!(
        ka_failed.is_empty(),
        "keep-alive requests failed: {ka_failed:?}"
    );
    assert!(
        fresh_failed.is_empty(),
        "fresh-connection requests failed: {fresh_failed:?}"
    );
    assert!(
        ka_ok > 20 && fresh_ok > 5,
        "too little load: {ka_ok} keep-alive, {fresh_ok} fresh"
    );
    // The gateway really did reload, many times, while serving.
    gw.wait_metric(
        r#"mtlsd_registry_reloads_total{listener="gw",result="success"}"#,
        f64::from(changes / 2),
    );
    eprintln!(
        "{ka_ok} keep-alive and {fresh_ok} fresh-connection requests, {changes} registry changes, 0 lost"
    );
}
