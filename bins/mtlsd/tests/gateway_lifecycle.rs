//! Gateway listeners across their lifetime: registry failures keep the last snapshot, the
//! registry watcher keeps closing refused connections during the SIGTERM drain, and connect
//! routes' egress bind address.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mtls_registry::{Store, TenantStatus};
use mtls_route_spec::ConnectRoute;
use support::Mtlsd;
use support::tenants::{Conn, DataDir, actor, get, http_route, named_backend, tenant};

#[test]
fn a_registry_that_cannot_be_read_keeps_the_previous_snapshot() {
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
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();
    assert_eq!(get(&a, &ca, port, "a.localhost", "/").0, 200);

    // Swap a corrupt file in for the registry while mtlsd runs (keeping the real one
    // under a second name).
    let db = data.root.join("registry.db");
    let kept = data.root.join("kept.db");
    std::fs::hard_link(&db, &kept).unwrap();
    let corrupt = data.root.join("corrupt.db");
    std::fs::write(&corrupt, b"this is not an SQLite database, not even close").unwrap();
    std::fs::rename(&corrupt, &db).unwrap();
    gw.wait_metric(
        r#"mtlsd_registry_reloads_total{listener="gw",result="failure"}"#,
        1.0,
    );
    gw.wait_log("cannot read the registry; keeping snapshot version");
    // Traffic still flows on the previous snapshot.
    assert_eq!(
        get(&a, &ca, port, "a.localhost", "/"),
        (200, "up-a for a\n".into())
    );

    // The real registry back in place: readable again, and changes apply again.
    std::fs::rename(&kept, &db).unwrap();
    gw.wait_log("registry readable again");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("b.localhost", named_backend("up-b")),
        )
        .unwrap();
    support::wait_for("the new route in effect", || {
        get(&a, &ca, port, "b.localhost", "/").0 == 200
    });
}

#[test]
fn the_registry_is_still_watched_while_draining() {
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
    let config = data.config("") + "\n[shutdown]\ndrain_timeout = \"15s\"\n";
    let mut gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &config);
    let mut conn = Conn::open(gw.addr("gw"), &a, &data.ca());
    assert_eq!(conn.get("a.localhost", "/").unwrap().0, 200);

    gw.signal("TERM");
    gw.wait_log("stopping: no new connections, draining open ones");
    assert_eq!(
        conn.get("a.localhost", "/x").unwrap().0,
        200,
        "draining, still served"
    );
    store
        .set_tenant_status(&actor(), &tenant("a"), TenantStatus::Suspended)
        .unwrap();
    let suspended = Instant::now();
    assert!(
        conn.closed_within(Duration::from_secs(3)),
        "the draining connection of a suspended tenant stayed open"
    );
    assert!(
        suspended.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        suspended.elapsed()
    );
    // Nothing left to drain: mtlsd exits long before the 15 s deadline.
    assert_eq!(gw.wait_exit(), 0);
    assert!(
        gw.stderr().contains("reason=\"tenant_suspended\""),
        "{}",
        gw.stderr()
    );
}

#[test]
fn a_connect_route_with_egress_bind_dials_from_that_address() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    // An upstream that answers with the source address it sees.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let peer = stream.peer_addr().unwrap();
            let _ = writeln!(stream, "you are {}", peer.ip());
        }
    });
    let mut route = ConnectRoute::new(vec![
        format!("127.0.0.1:{}", upstream.port()).parse().unwrap(),
    ]);
    route.allow_private = true;
    route.egress_bind = Some("127.0.0.2".parse().unwrap());
    data.store()
        .add_route(&actor(), &tenant("a"), route.into())
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let mut conn = Conn::open(gw.addr("gw"), &a, &data.ca());
    let status = conn.connect(&format!("127.0.0.1:{}", upstream.port()));
    assert_eq!(status, 200);
    let mut seen = String::new();
    conn.read_to_string_lossy(&mut seen);
    assert_eq!(seen.trim(), "you are 127.0.0.2");
}
