//! Destination policy at dial time, for every route kind, through the real `mtlsd`: HTTP
//! and TCP routes to loopback without `allow_private` are refused when dialed (a literal in
//! a route stored before add-time checks existed, and a host name that resolves to
//! loopback), CONNECT to IPv6 forms embedding 127.0.0.1 is refused, and the listener's
//! `mtlsd_dial_errors_total` and `mtlsd_bytes_proxied_total` move for gateway traffic.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use mtls_registry::{RegistryError, Store};
use mtls_route_spec::{ConnectRoute, RouteSpec, TcpRoute};
use support::tenants::{
    Bundle, Conn, DataDir, actor, get, http_route, named_backend, public_http_route, tenant,
};
use support::{Mtlsd, WAIT, echo_backend};

/// Writes `spec` for tenant `a` straight into the registry, as a route stored before the
/// add-time check existed (the store's `add_route` refuses it now).
fn store_unchecked(data: &DataDir, id: &str, spec: &RouteSpec) {
    let db = rusqlite::Connection::open(data.root.join("registry.db")).unwrap();
    db.execute(
        "INSERT INTO routes (id, tenant, spec, created_at) VALUES (?1, 'a', ?2, 1)",
        rusqlite::params![id, serde_json::to_string(spec).unwrap()],
    )
    .unwrap();
}

/// `openssl s_client` with `sni`; writes `line` and returns what came back before EOF (or
/// `WAIT`).
fn tcp_route_exchange(port: u16, sni: &str, bundle: &Bundle, ca: &Path, line: &[u8]) -> String {
    let mut client = Command::new("/usr/bin/openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            sni,
            "-CAfile",
        ])
        .arg(ca)
        .arg("-cert")
        .arg(&bundle.cert)
        .arg("-key")
        .arg(&bundle.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let _ = stdin.write_all(line);
    let mut stdout = client.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let n = stdout.read(&mut buf).unwrap_or(0);
        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
    });
    let got = rx.recv_timeout(WAIT).unwrap_or_default();
    let _ = client.kill();
    let _ = client.wait();
    got
}

#[test]
fn every_route_kind_is_checked_at_dial_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let store = data.store();
    let backend = named_backend("internal");
    let echo = echo_backend();
    let port_of = backend.port();

    // Adding a loopback literal without allow_private is refused, naming the range.
    let literal = public_http_route("literal.localhost", &format!("http://{backend}"));
    match store.add_route(&actor(), &tenant("a"), literal.clone().into()) {
        Err(RegistryError::InvalidRoute { source, .. }) => {
            assert!(
                source.to_string().contains("loopback (127.0.0.0/8)"),
                "{source}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // ... but one stored before that check loads, and is refused when dialed.
    store_unchecked(&data, "r-00000000000000a1", &literal.into());
    // A name passes the add-time check; the address it resolves to is refused at dial.
    let named = public_http_route("named.localhost", &format!("http://localhost:{port_of}"));
    store
        .add_route(&actor(), &tenant("a"), named.into())
        .unwrap();
    // The same upstream with allow_private works.
    store
        .add_route(&actor(), &tenant("a"), http_route("ok.localhost", backend))
        .unwrap();
    // TCP: a stored loopback literal without allow_private, and one with it.
    let refused_tcp = TcpRoute::new(
        "db.localhost".parse().unwrap(),
        vec![echo.to_string().parse().unwrap()],
    );
    store_unchecked(&data, "r-00000000000000a2", &refused_tcp.into());
    let mut ok_tcp = TcpRoute::new(
        "db-ok.localhost".parse().unwrap(),
        vec![echo.to_string().parse().unwrap()],
    );
    ok_tcp.allow_private = true;
    store
        .add_route(&actor(), &tenant("a"), ok_tcp.into())
        .unwrap();
    // CONNECT: IPv6 forms that embed 127.0.0.1, stored without allow_private.
    let forms = [
        ("[::ffff:127.0.0.1]", "IPv4-mapped"),
        ("[64:ff9b::7f00:1]", "NAT64 well-known prefix"),
        ("[::127.0.0.1]", "IPv4-compatible (deprecated)"),
    ];
    let connect = ConnectRoute::new(
        forms
            .iter()
            .map(|(host, _)| format!("{host}:{port_of}").parse().unwrap())
            .collect(),
    );
    let connect = RouteSpec::from(connect);
    assert!(
        store
            .add_route(&actor(), &tenant("a"), connect.clone())
            .is_err()
    );
    store_unchecked(&data, "r-00000000000000a3", &connect);

    // A CONNECT route that may reach the echo backend (allow_private), to count tunnel bytes.
    let mut tunnel = ConnectRoute::new(vec![format!("127.0.0.1:{}", echo.port()).parse().unwrap()]);
    tunnel.allow_private = true;
    store
        .add_route(&actor(), &tenant("a"), tunnel.into())
        .unwrap();

    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();

    // HTTP, with curl: refused at dial, 403 destination_forbidden naming the range.
    for host in ["literal.localhost", "named.localhost"] {
        let (status, body) = get(&a, &ca, port, host, "/");
        assert_eq!(status, 403, "{host}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "destination_forbidden", "{body}");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains("in the non-public range loopback ("),
            "{host}: {message}"
        );
        assert!(
            !body.contains("internal for a"),
            "the upstream was reached: {body}"
        );
    }
    gw.wait_log("upstream refused by the destination policy");
    assert_eq!(
        get(&a, &ca, port, "ok.localhost", "/"),
        (200, "internal for a\n".into())
    );

    // TCP, with openssl s_client: the refused route closes without a byte; the allowed
    // one echoes.
    let refused = tcp_route_exchange(port, "db.localhost", &a, &ca, b"ping\n");
    assert_eq!(
        refused, "",
        "a refused TCP route must not reach the upstream"
    );
    gw.wait_log("TCP route refused: the upstream is not a permitted destination");
    gw.wait_log("reason=\"destination_forbidden\"");
    let echoed = tcp_route_exchange(port, "db-ok.localhost", &a, &ca, b"ping over tcp\n");
    assert_eq!(echoed, "ping over tcp\n");

    // CONNECT to the embedding forms: 403, the log names the form and the IPv4 address.
    for (host, form) in forms {
        let mut conn = Conn::open(gw.addr("gw"), &a, &ca);
        assert_eq!(conn.connect(&format!("{host}:{port_of}")), 403, "{host}");
        gw.wait_log(&format!("of 127.0.0.1 embedded by {form}"));
    }

    // An allowed CONNECT tunnel's bytes are counted when it closes.
    let to_upstream = r#"mtlsd_bytes_proxied_total{listener="gw",direction="client_to_upstream"}"#;
    let before = gw.metric(to_upstream).unwrap_or(0.0);
    {
        let mut conn = Conn::open(gw.addr("gw"), &a, &ca);
        assert_eq!(conn.connect(&format!("127.0.0.1:{}", echo.port())), 200);
        assert_eq!(conn.echo(b"through the tunnel"), b"through the tunnel");
    }
    // Counted when the tunnel's access line is written, at its close.
    gw.wait_metric(to_upstream, before + "through the tunnel".len() as f64);

    // Every refusal above was a failed dial (2 HTTP, 1 TCP, 3 CONNECT), and the allowed
    // HTTP and TCP traffic moved bytes both ways.
    gw.wait_metric(r#"mtlsd_dial_errors_total{listener="gw"}"#, 6.0);
    gw.wait_metric(
        r#"mtlsd_bytes_proxied_total{listener="gw",direction="client_to_upstream"}"#,
        "ping over tcp\n".len() as f64,
    );
    gw.wait_metric(
        r#"mtlsd_bytes_proxied_total{listener="gw",direction="upstream_to_client"}"#,
        ("internal for a\n".len() + "ping over tcp\n".len()) as f64,
    );
    gw.wait_metric(
        r#"mtlsd_tenant_requests_total{listener="gw",tenant="a",protocol="tcp",status="destination_forbidden"}"#,
        1.0,
    );
}
