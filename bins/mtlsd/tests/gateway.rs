//! End-to-end tests of `mode = "gateway"`: the real `mtlsd` and `tenantctl` binaries, the
//! registry changed live through the mtls-registry API, `curl` and `openssl s_client` as
//! clients, loopback only.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mtls_identity::RevocationReason;
use mtls_registry::{Store, TenantLimits, TenantStatus};
use mtls_route_spec::{ConnectRoute, RouteSpec, TcpRoute};
use support::tenants::{
    Conn, DataDir, actor, curl, get, http_route, named_backend, serial_of, tenant, within,
};
use support::{Mtlsd, echo_backend};

#[test]
fn tenants_reach_only_their_routes_and_changes_apply_live() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let b = data.tenant("b");
    let store = data.store();
    let (up_a, up_b) = (named_backend("upstream-a"), named_backend("upstream-b"));
    store
        .add_route(&actor(), &tenant("a"), http_route("a.localhost", up_a))
        .unwrap();
    store
        .add_route(&actor(), &tenant("b"), http_route("b.localhost", up_b))
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();

    // Each tenant reaches its own upstream, with its identity attached, and only that.
    assert_eq!(
        get(&a, &ca, port, "a.localhost", "/x"),
        (200, "upstream-a for a\n".into())
    );
    assert_eq!(
        get(&b, &ca, port, "b.localhost", "/"),
        (200, "upstream-b for b\n".into())
    );
    let (status, body) = get(&a, &ca, port, "b.localhost", "/");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains(r#""error":"no_route""#), "{body}");
    assert!(!body.contains("upstream-b"));
    let (status, _) = get(&b, &ca, port, "a.localhost", "/");
    assert_eq!(status, 404);
    gw.wait_log("access listener=gw");

    // A route added while running works within 1 s, without a restart.
    store
        .add_route(&actor(), &tenant("a"), http_route("new.localhost", up_b))
        .unwrap();
    within(Duration::from_secs(1), "new route in effect", || {
        get(&a, &ca, port, "new.localhost", "/").0 == 200
    });
    gw.wait_metric(
        r#"mtlsd_registry_reloads_total{listener="gw",result="success"}"#,
        1.0,
    );

    // Open connections: suspending b closes b's, a's is untouched.
    let mut conn_a = Conn::open(gw.addr("gw"), &a, &ca);
    let mut conn_b = Conn::open(gw.addr("gw"), &b, &ca);
    assert_eq!(conn_a.get("a.localhost", "/").unwrap().0, 200);
    assert_eq!(conn_b.get("b.localhost", "/").unwrap().0, 200);
    store
        .set_tenant_status(&actor(), &tenant("b"), TenantStatus::Suspended)
        .unwrap();
    let suspended = Instant::now();
    assert!(
        conn_b.closed_within(Duration::from_secs(3)),
        "b's connection stayed open"
    );
    assert!(
        suspended.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        suspended.elapsed()
    );
    conn_a.set_read_timeout(Duration::from_secs(10));
    assert_eq!(
        conn_a.get("a.localhost", "/y").unwrap(),
        (200, "upstream-a for a\n".into())
    );
    gw.wait_log("closing live connection: the registry no longer admits it");
    gw.wait_metric(
        r#"mtlsd_tenant_connections_closed_total{listener="gw",reason="tenant_suspended"}"#,
        1.0,
    );
    // A suspended tenant's new connections are refused after the handshake.
    assert_eq!(get(&b, &ca, port, "b.localhost", "/").0, 0);
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="tenant_suspended"}"#,
        1.0,
    );

    // A revoked certificate: refused within 1 s; another certificate of a still works.
    let a2 = data.issue("a", "a2");
    store
        .revoke_certificate(
            &actor(),
            &serial_of(&a.cert),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    within(
        Duration::from_secs(1),
        "revoked certificate refused",
        || get(&a, &ca, port, "a.localhost", "/").0 == 0,
    );
    assert!(
        conn_a.closed_within(Duration::from_secs(3)),
        "revoked cert's connection stayed open"
    );
    assert_eq!(get(&a2, &ca, port, "a.localhost", "/").0, 200);
    // A request that raced the revocation may have been admitted and then closed (counted as
    // closed, not refused); one made now is refused after its handshake.
    assert_eq!(get(&a, &ca, port, "a.localhost", "/").0, 0);
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="certificate_revoked"}"#,
        1.0,
    );

    // A certificate from another CA, naming tenant a: the handshake itself fails.
    let evil = tmp.path().join("evil");
    std::fs::create_dir(&evil).unwrap();
    std::fs::write(
        evil.join("ext.cnf"),
        "subjectAltName=URI:spiffe://gw.test/tenant/a\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for args in [
        &[
            "req",
            "-x509",
            "-subj",
            "/CN=evil-ca",
            "-days",
            "1",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ][..],
        &[
            "req", "-subj", "/CN=a", "-keyout", "key.pem", "-out", "req.csr",
        ][..],
    ] {
        let status = Command::new("/usr/bin/openssl")
            .args(&args[..1])
            .args(ec)
            .args(&args[1..])
            .current_dir(&evil)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    }
    let status = Command::new("/usr/bin/openssl")
        .args([
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
        ])
        .args([
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ])
        .current_dir(&evil)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let evil = support::tenants::Bundle {
        cert: evil.join("cert.pem"),
        key: evil.join("key.pem"),
    };
    assert_eq!(get(&evil, &ca, port, "a.localhost", "/").0, 0);
    gw.wait_metric(
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="unknown_ca"}"#,
        1.0,
    );
}

#[test]
fn connect_egress_tcp_routes_and_rate_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let b = data.tenant("b");
    let store = data.store();
    let backend = named_backend("egress");
    let echo = echo_backend();
    let dest = format!("localhost:{}", backend.port());
    // a may tunnel to localhost but not to private addresses; b explicitly may.
    let connect = |private: bool| {
        let mut r = ConnectRoute::new(vec![dest.parse().unwrap()]);
        r.allow_private = private;
        RouteSpec::from(r)
    };
    store
        .add_route(&actor(), &tenant("a"), connect(false))
        .unwrap();
    store
        .add_route(&actor(), &tenant("b"), connect(true))
        .unwrap();
    let mut db = TcpRoute::new(
        "db.localhost".parse().unwrap(),
        vec![echo.to_string().parse().unwrap()],
    );
    db.allow_private = true;
    store.add_route(&actor(), &tenant("a"), db.into()).unwrap();
    store
        .add_route(&actor(), &tenant("a"), http_route("a.localhost", backend))
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();

    // CONNECT through the gateway as an HTTPS proxy.
    let proxy = format!("https://localhost:{port}");
    let through = |bundle: &support::tenants::Bundle| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-p",
                "--proxy",
                &proxy,
                "--proxy-cacert",
            ])
            .arg(&ca)
            .arg("--proxy-cert")
            .arg(&bundle.cert)
            .arg("--proxy-key")
            .arg(&bundle.key)
            .args(["-w", "\n%{http_connect}", &format!("http://{dest}/")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = through(&a);
    assert!(refused.ends_with("403"), "{refused}");
    let allowed = through(&b);
    assert!(allowed.ends_with("200"), "{allowed}");
    assert!(allowed.starts_with("egress for -"), "{allowed}");
    gw.wait_log("private destinations are not allowed");

    // A TCP route, picked by SNI (openssl s_client sends no ALPN).
    let mut client = Command::new("/usr/bin/openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["-servername", "db.localhost", "-CAfile"])
        .arg(&ca)
        .arg("-cert")
        .arg(&a.cert)
        .arg("-key")
        .arg(&a.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"ping over tcp\n").unwrap();
    let mut stdout = client.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = stdout.read(&mut buf).unwrap_or(0);
        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
    });
    let echoed = rx.recv_timeout(support::WAIT);
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(echoed.unwrap(), "ping over tcp\n");
    gw.wait_log("protocol=\"tcp\" route=");

    // Rate limit: 2 requests per second for a; a burst of 8 gets 429s.
    store
        .set_tenant_limits(
            &actor(),
            &tenant("a"),
            TenantLimits {
                max_connections: None,
                requests_per_second: Some(2),
            },
        )
        .unwrap();
    gw.wait_registry_version("gw", store.version().unwrap());
    let url = format!("https://localhost:{port}/");
    let urls: Vec<&str> = std::iter::repeat_n(url.as_str(), 8).collect();
    let mut args = vec![
        "-H",
        "Host: a.localhost",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}\n",
    ];
    args.extend(urls);
    let out = curl(&a, &ca, &args);
    let codes = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(codes.lines().any(|c| c == "200"), "{codes}");
    assert!(
        codes.lines().filter(|c| *c == "429").count() >= 4,
        "{codes}"
    );
    let (status, body) = get(&a, &ca, port, "a.localhost", "/");
    if status == 429 {
        assert!(body.contains(r#""error":"rate_limited""#), "{body}");
    }
    gw.wait_metric(
        r#"mtlsd_tenant_limited_total{listener="gw",tenant="a",limit="requests_per_second"}"#,
        1.0,
    );
}
