//! End-to-end tests of gateway-mode edges: per-tenant connection limits, admission of
//! resumed TLS sessions, slow clients, and config errors (real `mtlsd`, `tenantctl`,
//! `openssl`; loopback only).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mtls_identity::RevocationReason;
use mtls_registry::{Store, TenantLimits};

use support::Mtlsd;
use support::tenants::{
    Conn, DataDir, actor, http_route, named_backend, serial_of, tenant, upgrade_backend, within,
};

#[test]
fn max_connections_per_tenant() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let store = data.store();
    store
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("up")),
        )
        .unwrap();
    store
        .set_tenant_limits(
            &actor(),
            &tenant("a"),
            TenantLimits {
                max_connections: Some(1),
                requests_per_second: None,
            },
        )
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let ca = data.ca();
    let mut first = Conn::open(gw.addr("gw"), &a, &ca);
    assert_eq!(first.get("a.localhost", "/").unwrap().0, 200);
    let mut second = Conn::open(gw.addr("gw"), &a, &ca);
    assert!(
        second.get("a.localhost", "/").is_err(),
        "a second connection was served"
    );
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="max_connections"}"#,
        1.0,
    );
    drop(first);
    within(Duration::from_secs(5), "a slot frees up", || {
        Conn::open(gw.addr("gw"), &a, &ca)
            .get("a.localhost", "/")
            .is_ok()
    });
}

#[test]
fn check_and_config_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    let config = format!(
        "data_dir = \"{}\"\n[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:0\"\n",
        missing.display()
    );
    let path = tmp.path().join("m.toml");
    std::fs::write(&path, &config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            &missing
                .join("server")
                .join("cert.pem")
                .display()
                .to_string()
        ),
        "{err}"
    );

    let bad = config.replace("listen = ", "target = \"127.0.0.1:1\"\nlisten = ");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`target`: is not used in gateway mode"),
        "{err}"
    );
}

/// One `openssl s_client` GET over a fresh or resumed session; returns its whole output.
fn s_client(
    port: u16,
    bundle: &support::tenants::Bundle,
    ca: &std::path::Path,
    sess: &[&std::ffi::OsStr],
) -> String {
    let mut child = Command::new("/usr/bin/openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .args(["-tls1_3", "-CAfile"])
        .arg(ca)
        .arg("-cert")
        .arg(&bundle.cert)
        .arg("-key")
        .arg(&bundle.key)
        .args(sess)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Keep stdin open until the gateway closes the connection (`Connection: close`, or a
    // refusal): s_client then exits on its own, after reading everything the server sent,
    // the session ticket included. Closing stdin first could end the session before the
    // ticket arrives.
    stdin
        .write_all(b"GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + support::WAIT;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "s_client hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn resumed_sessions_are_admitted_against_the_current_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let store = data.store();
    let up = named_backend("upstream-a");
    store
        .add_route(&actor(), &tenant("a"), http_route("a.localhost", up))
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();
    let sess = tmp.path().join("sess.pem");
    let sess2 = tmp.path().join("sess2.pem");
    let (sess_in, sess_out) = (
        std::ffi::OsStr::new("-sess_in"),
        std::ffi::OsStr::new("-sess_out"),
    );

    let first = s_client(port, &a, &ca, &[sess_out, sess.as_os_str()]);
    assert!(first.contains("upstream-a for a"), "{first}");
    assert!(sess.exists(), "no session saved:\n{first}");

    // Resumption works while the certificate is good...
    // rustls' stateful session ids are single-use: keep the next one for the last try.
    let resumed = s_client(
        port,
        &a,
        &ca,
        &[sess_in, sess.as_os_str(), sess_out, sess2.as_os_str()],
    );
    assert!(resumed.contains("Reused, TLSv1.3"), "{resumed}");
    assert!(resumed.contains("upstream-a for a"), "{resumed}");

    // ...and a resumed session of a revoked certificate is refused after the handshake.
    store
        .revoke_certificate(
            &actor(),
            &serial_of(&a.cert),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    gw.wait_metric(
        r#"mtlsd_registry_reloads_total{listener="gw",result="success"}"#,
        1.0,
    );
    let refused = s_client(port, &a, &ca, &[sess_in, sess2.as_os_str()]);
    assert!(refused.contains("Reused, TLSv1.3"), "{refused}");
    assert!(!refused.contains("upstream-a"), "{refused}");
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="certificate_revoked"}"#,
        1.0,
    );
}

#[test]
fn slow_request_heads_are_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("up")),
        )
        .unwrap();
    let config = data.config("[listener.gateway]\nrequest_timeout = \"1s\"\nprotocol = \"http\"");
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &config);
    let mut conn = Conn::open(gw.addr("gw"), &a, &data.ca());
    conn.send_raw(b"GET / HTTP/1.1\r\nHost: a.local");
    let started = Instant::now();
    assert!(
        conn.closed_within(Duration::from_secs(5)),
        "slow client kept its connection"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn websocket_upgrades_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("ws.localhost", upgrade_backend()),
        )
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let mut conn = Conn::open(gw.addr("gw"), &a, &data.ca());
    assert_eq!(conn.upgrade("ws.localhost"), 101);
    assert_eq!(conn.echo(b"frame one"), b"frame one");
    assert_eq!(conn.echo(b"frame two"), b"frame two");
}

#[test]
fn upgraded_connections_of_a_suspended_tenant_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let b = data.tenant("b");
    let store = data.store();
    let backend = upgrade_backend();
    for t in ["a", "b"] {
        store
            .add_route(&actor(), &tenant(t), http_route("ws.localhost", backend))
            .unwrap();
    }
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let mut ws_a = Conn::open(gw.addr("gw"), &a, &data.ca());
    let mut ws_b = Conn::open(gw.addr("gw"), &b, &data.ca());
    assert_eq!(ws_a.upgrade("ws.localhost"), 101);
    assert_eq!(ws_b.upgrade("ws.localhost"), 101);
    assert_eq!(ws_a.echo(b"before"), b"before");
    assert_eq!(ws_b.echo(b"before"), b"before");
    // An upgraded connection still counts as the tenant's open connection.
    assert_eq!(
        gw.metric(r#"mtlsd_tenant_active_connections{listener="gw",tenant="a"}"#),
        Some(1.0)
    );

    store
        .set_tenant_status(
            &actor(),
            &tenant("a"),
            mtls_registry::TenantStatus::Suspended,
        )
        .unwrap();
    let suspended = Instant::now();
    assert!(
        ws_a.closed_within(Duration::from_secs(3)),
        "the suspended tenant's WebSocket stayed open"
    );
    assert!(
        suspended.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        suspended.elapsed()
    );
    // The other tenant's upgraded connection is untouched.
    assert_eq!(ws_b.echo(b"after"), b"after");
    gw.wait_metric(
        r#"mtlsd_tenant_connections_closed_total{listener="gw",reason="tenant_suspended"}"#,
        1.0,
    );
}

#[test]
fn silent_http2_connections_are_closed_after_the_request_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data.config("[listener.gateway]\nrequest_timeout = \"1s\"\n"),
    );
    // An h2 client that completes the TLS handshake and then says nothing (not even the
    // connection preface).
    let mut silent = Conn::open_alpn(gw.addr("gw"), &a, &data.ca(), b"h2");
    assert_eq!(silent.handshake().as_deref(), Some(&b"h2"[..]));
    let opened = Instant::now();
    assert!(
        silent.closed_within(Duration::from_secs(5)),
        "the silent HTTP/2 connection stayed open"
    );
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    gw.wait_log("closing idle HTTP/2 connection");
    // The tenant's slot was freed: a new connection is admitted and served.
    gw.wait_metric_eq(
        r#"mtlsd_tenant_active_connections{listener="gw",tenant="a"}"#,
        0.0,
    );
}
