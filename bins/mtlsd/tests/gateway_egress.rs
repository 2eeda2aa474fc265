//! A stable egress address per tenant, seen from the upstream: two tenants with their own
//! source addresses (127.0.0.2 and 127.0.0.3: Linux routes all of 127.0.0.0/8 to `lo`)
//! reach upstreams that answer with the peer address they see, over HTTP (curl), TCP routes
//! (`openssl s_client`) and CONNECT tunnels; a route's own `egress_bind` overrides its
//! tenant's; a tenant without an address leaves from the host's default; a changed address
//! reaches new requests within 1 s, and nothing pooled from the old one is reused; an
//! address the host does not hold fails the request (502 naming it, a log line), never
//! falling back to another source.

mod support;

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mtls_registry::{Store, TenantUpdate};
use mtls_route_spec::{ConnectRoute, HttpRoute, RouteSpec, TcpRoute};
use mtls_test_support::net::{peer_http_upstream, peer_tcp_upstream};
use support::tenants::{Bundle, Conn, DataDir, actor, get, tenant, within};
use support::{Mtlsd, WAIT};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Sets tenant `id`'s egress address through the registry (what `tenantctl` and the
/// control-plane API do after checking the host holds it).
fn set_egress(data: &DataDir, id: &str, address: Option<IpAddr>) {
    let update = TenantUpdate {
        egress_address: Some(address),
        ..TenantUpdate::default()
    };
    let record = data
        .store()
        .update_tenant(&actor(), &tenant(id), &update)
        .unwrap();
    assert_eq!(record.egress_address, address);
}

/// An HTTP route for `host` to the plain-HTTP `upstream` (on loopback, so `allow_private`).
fn http_route(host: &str, upstream: SocketAddr, egress_bind: Option<IpAddr>) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().unwrap(),
        vec![format!("http://{upstream}").parse().unwrap()],
    );
    route.allow_private = true;
    route.egress_bind = egress_bind;
    route.into()
}

/// A TCP route for the server name `sni` to `upstream`.
fn tcp_route(sni: &str, upstream: SocketAddr) -> RouteSpec {
    let mut route = TcpRoute::new(
        sni.parse().unwrap(),
        vec![upstream.to_string().parse().unwrap()],
    );
    route.allow_private = true;
    route.into()
}

/// A CONNECT route to exactly `upstream`.
fn connect_route(upstream: SocketAddr) -> RouteSpec {
    let mut route = ConnectRoute::new(vec![upstream.to_string().parse().unwrap()]);
    route.allow_private = true;
    route.into()
}

/// `openssl s_client` with the server name `sni` through the gateway on `port`: what the TCP
/// upstream wrote before closing (empty when the gateway closed without a byte, or after
/// `WAIT`).
fn tcp_through(port: u16, sni: &str, bundle: &Bundle, ca: &Path) -> String {
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
    // Kept open so that s_client waits for the upstream's bytes rather than quitting.
    let stdin = client.stdin.take().unwrap();
    let mut stdout = client.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(String::from_utf8_lossy(&out).into_owned());
    });
    let got = rx.recv_timeout(WAIT).unwrap_or_default();
    drop(stdin);
    let _ = client.kill();
    let _ = client.wait();
    got
}

/// What a CONNECT tunnel to `upstream` (the TCP upstream) reads: the source the upstream saw.
fn connect_through(gw: SocketAddr, upstream: SocketAddr, bundle: &Bundle, ca: &Path) -> String {
    let mut conn = Conn::open(gw, bundle, ca);
    assert_eq!(conn.connect(&upstream.to_string()), 200);
    let mut out = String::new();
    conn.read_to_string_lossy(&mut out);
    out
}

#[test]
fn each_tenant_leaves_from_its_own_address() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, b, c) = (data.tenant("a"), data.tenant("b"), data.tenant("c"));
    let http_up = peer_http_upstream("127.0.0.1");
    let tcp_up = peer_tcp_upstream("127.0.0.1");
    let store = data.store();
    for id in ["a", "b", "c"] {
        let t = tenant(id);
        store
            .add_route(
                &actor(),
                &t,
                http_route(&format!("{id}.test"), http_up, None),
            )
            .unwrap();
        store
            .add_route(&actor(), &t, tcp_route(&format!("tcp.{id}.test"), tcp_up))
            .unwrap();
        store
            .add_route(&actor(), &t, connect_route(tcp_up))
            .unwrap();
    }
    // A route of a with its own source address, which wins over a's.
    store
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("own.a.test", http_up, Some(ip("127.0.0.9"))),
        )
        .unwrap();
    set_egress(&data, "a", Some(ip("127.0.0.2")));
    set_egress(&data, "b", Some(ip("127.0.0.3")));

    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let addr = gw.addr("gw");
    let port = addr.port();
    let ca = data.ca();

    // HTTP (curl), TCP (openssl s_client) and CONNECT: each tenant's upstream connections
    // arrive from its own address; c, with none, from the host's default.
    for (id, bundle, source) in [
        ("a", &a, "127.0.0.2"),
        ("b", &b, "127.0.0.3"),
        ("c", &c, "127.0.0.1"),
    ] {
        assert_eq!(
            get(bundle, &ca, port, &format!("{id}.test"), "/"),
            (200, source.to_owned()),
            "HTTP of {id}"
        );
        assert_eq!(
            tcp_through(port, &format!("tcp.{id}.test"), bundle, &ca),
            format!("{source}\n"),
            "TCP of {id}"
        );
        assert_eq!(
            connect_through(addr, tcp_up, bundle, &ca),
            format!("{source}\n"),
            "CONNECT of {id}"
        );
    }
    assert_eq!(
        get(&a, &ca, port, "own.a.test", "/"),
        (200, "127.0.0.9".to_owned())
    );
    // The access log names the source of every upstream connection, and which setting chose it.
    gw.wait_log(r#"protocol="http" method=GET host=a.test"#);
    for needle in [
        r#"egress=127.0.0.2 egress_from="tenant""#,
        r#"egress=127.0.0.3 egress_from="tenant""#,
        r#"egress=127.0.0.9 egress_from="route""#,
        r#"egress=127.0.0.1 egress_from="default""#,
    ] {
        gw.wait_log(needle);
    }
    for protocol in ["tcp", "connect"] {
        gw.wait_log_line(&format!("a {protocol} access line with a's egress"), |l| {
            l.contains(&format!("protocol=\"{protocol}\""))
                && l.contains(r#"egress=127.0.0.2 egress_from="tenant""#)
        });
    }

    // A new address for a, while mtlsd runs: new requests leave from it within 1 s, also on
    // a kept-alive client connection, whose pooled upstream connection came from the old
    // address and must not be reused.
    let mut kept = Conn::open(addr, &a, &ca);
    assert_eq!(
        kept.get("a.test", "/").unwrap(),
        (200, "127.0.0.2".to_owned())
    );
    set_egress(&data, "a", Some(ip("127.0.0.4")));
    let took = within(
        Duration::from_secs(1),
        "a's new egress address in use",
        || kept.get("a.test", "/").unwrap() == (200, "127.0.0.4".to_owned()),
    );
    eprintln!("a's new egress address reached the upstream after {took:?}");
    assert_eq!(
        kept.get("a.test", "/").unwrap(),
        (200, "127.0.0.4".to_owned())
    );
    assert_eq!(
        get(&a, &ca, port, "a.test", "/"),
        (200, "127.0.0.4".to_owned())
    );
    assert_eq!(tcp_through(port, "tcp.a.test", &a, &ca), "127.0.0.4\n");
    // b is untouched, and a's own-route source still wins.
    assert_eq!(
        get(&b, &ca, port, "b.test", "/"),
        (200, "127.0.0.3".to_owned())
    );
    assert_eq!(
        get(&a, &ca, port, "own.a.test", "/"),
        (200, "127.0.0.9".to_owned())
    );

    // Clearing a's address: the host's default again.
    set_egress(&data, "a", None);
    within(
        Duration::from_secs(1),
        "a back on the default source",
        || kept.get("a.test", "/").unwrap() == (200, "127.0.0.1".to_owned()),
    );
}

#[test]
fn an_address_the_host_does_not_hold_fails_the_request_and_never_falls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let b = data.tenant("b");
    let http_up = peer_http_upstream("127.0.0.1");
    let tcp_up = peer_tcp_upstream("127.0.0.1");
    let store = data.store();
    let t = tenant("b");
    store
        .add_route(&actor(), &t, http_route("b.test", http_up, None))
        .unwrap();
    store
        .add_route(&actor(), &t, tcp_route("tcp.b.test", tcp_up))
        .unwrap();
    store
        .add_route(&actor(), &t, connect_route(tcp_up))
        .unwrap();
    set_egress(&data, "b", Some(ip("127.0.0.3")));

    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let addr = gw.addr("gw");
    let port = addr.port();
    let ca = data.ca();
    assert_eq!(
        get(&b, &ca, port, "b.test", "/"),
        (200, "127.0.0.3".to_owned())
    );

    // 192.0.2.1 (TEST-NET-1) is not on this host: as if b's address had been removed from
    // the interface after it was assigned. The registry accepts it (checking the host is the
    // caller's job), so the data plane must cope.
    set_egress(&data, "b", Some(ip("192.0.2.1")));
    within(
        Duration::from_secs(1),
        "b's unbindable address in use",
        || get(&b, &ca, port, "b.test", "/").0 == 502,
    );
    let (status, body) = get(&b, &ca, port, "b.test", "/");
    assert_eq!(status, 502, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "upstream_unreachable", "{body}");
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains("egress source address 192.0.2.1 cannot be bound"),
        "{message}"
    );
    gw.wait_log("upstream not dialed: its egress source address cannot be bound");
    // Also said once when the snapshot assigning it was loaded, before any request.
    gw.wait_log("tenant egress address unusable");
    gw.wait_log("tenant=b egress=192.0.2.1 error=this host does not hold 192.0.2.1: binding");
    gw.wait_log(r#"egress=192.0.2.1 egress_from="tenant""#);

    // TCP: closed without a byte from the upstream; CONNECT: 502 naming the address.
    assert_eq!(tcp_through(port, "tcp.b.test", &b, &ca), "");
    gw.wait_log("TCP route not dialed: the egress source address cannot be bound");
    gw.wait_log(r#"reason="egress_unavailable""#);
    let mut conn = Conn::open(addr, &b, &ca);
    assert_eq!(conn.connect(&tcp_up.to_string()), 502);
    gw.wait_log("CONNECT not dialed: the egress source address cannot be bound");

    // Back on an address the host holds: served again, from it.
    set_egress(&data, "b", Some(ip("127.0.0.3")));
    within(Duration::from_secs(1), "b's address back", || {
        get(&b, &ca, port, "b.test", "/") == (200, "127.0.0.3".to_owned())
    });
    assert_eq!(tcp_through(port, "tcp.b.test", &b, &ca), "127.0.0.3\n");
}

/// `tenantctl explain` reports the winning route's source and which setting chose it, from
/// the same decision the gateway acts on.
#[test]
fn explain_names_the_source_and_where_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, c) = (data.tenant("a"), data.tenant("c"));
    let store = data.store();
    let up: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for id in ["a", "c"] {
        store
            .add_route(
                &actor(),
                &tenant(id),
                http_route(&format!("{id}.test"), up, None),
            )
            .unwrap();
    }
    store
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("own.a.test", up, Some(ip("127.0.0.9"))),
        )
        .unwrap();
    set_egress(&data, "a", Some(ip("127.0.0.2")));
    let explain = |bundle: &Bundle, host: &str| -> serde_json::Value {
        let cert = bundle.cert.to_str().unwrap();
        let out = data.ctl(&["--json", "explain", "--cert", cert, "--host", host]);
        serde_json::from_str(&out).unwrap()
    };
    let egress = |v: serde_json::Value| v["egress"].clone();
    assert_eq!(
        egress(explain(&a, "a.test")),
        serde_json::json!({"address": "127.0.0.2", "from": "tenant"})
    );
    assert_eq!(
        egress(explain(&a, "own.a.test")),
        serde_json::json!({"address": "127.0.0.9", "from": "route"})
    );
    assert_eq!(
        egress(explain(&c, "c.test")),
        serde_json::json!({"address": null, "from": "default"})
    );
    // No route, no source.
    assert_eq!(egress(explain(&a, "nothing.test")), serde_json::Value::Null);
    let cert = a.cert.to_str().unwrap();
    let human = data.ctl(&["explain", "--cert", cert, "--host", "a.test"]);
    assert!(
        human.contains("Egress       from 127.0.0.2 (the tenant's egress address)"),
        "{human}"
    );
}
