//! Upgraded connections (HTTP/1.1 CONNECT tunnels, WebSocket-style upgrades) stay bounded by
//! the listener's and the tenant's `max_connections`, are counted in the active-connection
//! gauges, are waited for by the SIGTERM drain and log one access line with their real bytes
//! and duration when they close; clients that never finish their handshake cannot stall a
//! listener (real `mtlsd`, `tenantctl`, `curl`; loopback only, bounded waits).

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mtls_registry::{Store, TenantLimits};
use mtls_route_spec::ConnectRoute;

use support::tenants::{Bundle, Conn, DataDir, actor, http_route, tenant, upgrade_backend, within};
use support::{Mtlsd, WAIT, echo_backend};

const ACTIVE: &str = r#"mtlsd_active_connections{listener="gw"}"#;

/// A data dir with tenant `a`, a CONNECT route to a loopback echo server, and a WebSocket
/// route `ws.localhost`; returns the bundle and the CONNECT destination.
fn setup(data: &DataDir) -> (Bundle, String) {
    let a = data.tenant("a");
    let echo = echo_backend();
    let dest = format!("127.0.0.1:{}", echo.port());
    let mut route = ConnectRoute::new(vec![dest.parse().unwrap()]);
    route.allow_private = true;
    let store = data.store();
    store
        .add_route(&actor(), &tenant("a"), route.into())
        .unwrap();
    store
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("ws.localhost", upgrade_backend()),
        )
        .unwrap();
    (a, dest)
}

fn tunnel(gw: &Mtlsd, a: &Bundle, ca: &std::path::Path, dest: &str) -> Conn {
    let mut conn = Conn::open(gw.addr("gw"), a, ca);
    assert_eq!(conn.connect(dest), 200);
    assert_eq!(conn.echo(b"hello"), b"hello");
    conn
}

fn metric(gw: &Mtlsd, series: &str) -> f64 {
    gw.metric(series).unwrap_or(0.0)
}

/// The value of `key=value` (quotes stripped) in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// The first `access` line of `protocol` in the log.
fn access_line(gw: &Mtlsd, protocol: &str) -> Option<String> {
    gw.stderr()
        .lines()
        .find(|l| l.contains(" access ") && field(l, "protocol") == Some(protocol))
        .map(str::to_owned)
}

#[test]
fn connect_tunnels_hold_listener_slots_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, dest) = setup(&data);
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data.config("[listener.proxy]\nmax_connections = 2\non_limit = \"refuse\"\n"),
    );
    let ca = data.ca();
    let first = tunnel(&gw, &a, &ca, &dest);
    let mut second = tunnel(&gw, &a, &ca, &dest);
    // Both tunnels are open connections of the listener...
    assert_eq!(metric(&gw, ACTIVE), 2.0, "open tunnels are not counted");
    // ...and hold its two slots: a third connection is refused.
    let mut third = Conn::open(gw.addr("gw"), &a, &ca);
    assert!(
        third.get("ws.localhost", "/").is_err(),
        "a third connection was served past max_connections = 2"
    );
    gw.wait_metric(r#"mtlsd_connections_refused_total{listener="gw"}"#, 1.0);
    // The tunnels still work; closing one frees its slot.
    assert_eq!(second.echo(b"still"), b"still");
    drop(first);
    within(WAIT, "the closed tunnel's slot to be freed", || {
        metric(&gw, ACTIVE) == 1.0
    });
    let mut fourth = tunnel(&gw, &a, &ca, &dest);
    assert_eq!(fourth.echo(b"again"), b"again");
}

#[test]
fn websocket_upgrades_hold_listener_slots_in_wait_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, _) = setup(&data);
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data.config("[listener.proxy]\nmax_connections = 1\n"),
    );
    let ca = data.ca();
    let mut ws = Conn::open(gw.addr("gw"), &a, &ca);
    assert_eq!(ws.upgrade("ws.localhost"), 101);
    assert_eq!(ws.echo(b"frame"), b"frame");
    assert_eq!(metric(&gw, ACTIVE), 1.0, "the WebSocket is not counted");

    // The only slot is the WebSocket's: a second connection waits...
    let addr = gw.addr("gw");
    let (a2, ca2) = (a.clone(), ca.clone());
    let waiting = std::thread::spawn(move || {
        let mut conn = Conn::open(addr, &a2, &ca2);
        let started = Instant::now();
        let answer = conn.get("ws.localhost", "/");
        (answer.map(|(status, _)| status), started.elapsed())
    });
    // ...as long as the WebSocket is open (it keeps working meanwhile).
    within(WAIT, "the second connection to be accepted", || {
        metric(&gw, r#"mtlsd_connections_total{listener="gw"}"#) >= 2.0
    });
    for _ in 0..5 {
        assert_eq!(ws.echo(b"tick"), b"tick");
        assert!(
            !waiting.is_finished(),
            "the second connection was served while the WebSocket held the only slot"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(ws);
    let (status, waited) = waiting.join().unwrap();
    // The upgrade backend answers a plain GET with 400: served, not refused.
    assert_eq!(status.unwrap(), 400);
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
}

#[test]
fn a_tunnel_keeps_its_tenants_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, dest) = setup(&data);
    cap_tenant(&data, "a", 1);
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let ca = data.ca();
    let mut open = tunnel(&gw, &a, &ca, &dest);
    assert_eq!(
        metric(
            &gw,
            r#"mtlsd_tenant_active_connections{listener="gw",tenant="a"}"#
        ),
        1.0
    );
    let mut second = Conn::open(gw.addr("gw"), &a, &ca);
    assert!(
        second.get("ws.localhost", "/").is_err(),
        "a second connection of the tenant was served"
    );
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="max_connections"}"#,
        1.0,
    );
    assert_eq!(open.echo(b"mine"), b"mine");
}

#[test]
fn sigterm_waits_for_open_tunnels() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, dest) = setup(&data);
    let config = data.config("") + "\n[shutdown]\ndrain_timeout = \"20s\"\n";
    let mut gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &config);
    let ca = data.ca();
    let mut open = tunnel(&gw, &a, &ca, &dest);
    let mut ws = Conn::open(gw.addr("gw"), &a, &ca);
    assert_eq!(ws.upgrade("ws.localhost"), 101);
    gw.signal("TERM");
    gw.wait_log("draining open ones");
    // Both upgraded connections are drained, not cut: they keep passing bytes.
    for round in 0..5 {
        let msg = format!("round {round}");
        assert_eq!(open.echo(msg.as_bytes()), msg.as_bytes());
        assert_eq!(ws.echo(msg.as_bytes()), msg.as_bytes());
        assert!(
            gw.child.try_wait().unwrap().is_none(),
            "mtlsd exited while tunnels were open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        gw.stderr().contains("open_connections=2"),
        "the drain did not count the tunnels:\n{}",
        gw.stderr()
    );
    drop(open);
    drop(ws);
    assert_eq!(gw.wait_exit(), 0, "{}", gw.stderr());
    assert!(
        !gw.stderr().contains("drain deadline passed"),
        "{}",
        gw.stderr()
    );
}

#[test]
fn tunnels_log_their_bytes_and_duration_when_they_close() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, dest) = setup(&data);
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let ca = data.ca();
    let payload = vec![b'x'; 3000];

    let mut conn = tunnel(&gw, &a, &ca, &dest);
    let opened = Instant::now();
    for _ in 0..3 {
        assert_eq!(conn.echo(&payload), payload);
    }
    let held = opened.elapsed();
    drop(conn);
    within(WAIT, "the CONNECT access line", || {
        access_line(&gw, "connect").is_some()
    });
    let line = access_line(&gw, "connect").unwrap();
    // 5 bytes of `hello` from `tunnel`, then 3 × 3000.
    assert_eq!(field(&line, "bytes_in"), Some("9005"), "{line}");
    assert_eq!(field(&line, "bytes_out"), Some("9005"), "{line}");
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    let duration: u128 = field(&line, "duration_ms").unwrap().parse().unwrap();
    assert!(
        duration >= held.as_millis(),
        "{duration} ms < {held:?}: {line}"
    );

    let mut ws = Conn::open(gw.addr("gw"), &a, &ca);
    assert_eq!(ws.upgrade("ws.localhost"), 101);
    let opened = Instant::now();
    for _ in 0..2 {
        assert_eq!(ws.echo(&payload), payload);
    }
    let held = opened.elapsed();
    drop(ws);
    within(WAIT, "the WebSocket access line", || {
        access_line(&gw, "websocket").is_some()
    });
    let line = access_line(&gw, "websocket").unwrap();
    assert_eq!(field(&line, "bytes_in"), Some("6000"), "{line}");
    // What the client got after the upgrade: the 101 head, then the echoed frames.
    let out: u64 = field(&line, "bytes_out").unwrap().parse().unwrap();
    assert!((6000..6000 + 512).contains(&out), "{line}");
    assert_eq!(field(&line, "status"), Some("101"), "{line}");
    let duration: u128 = field(&line, "duration_ms").unwrap().parse().unwrap();
    assert!(
        duration >= held.as_millis(),
        "{duration} ms < {held:?}: {line}"
    );
}

/// Opens `n` TCP connections from 127.0.0.1 that never send a byte.
fn silent_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect_timeout(&addr, WAIT).unwrap())
        .collect()
}

/// `curl` from `source` (a loopback address) through the gateway; returns the HTTP status
/// (0 when the connection failed) and how long it took.
fn curl_from(source: &str, gw: &Mtlsd, a: &Bundle, ca: &std::path::Path) -> (u16, Duration) {
    let port = gw.addr("gw").port();
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--interface", source, "--resolve"])
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg("--cert")
        .arg(&a.cert)
        .arg("--key")
        .arg(&a.key)
        .arg("--cacert")
        .arg(ca)
        .args([
            "-H",
            "Host: ws.localhost",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("https://localhost:{port}/"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, started.elapsed())
}

#[test]
fn silent_clients_do_not_hold_connection_slots_in_wait_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, _) = setup(&data);
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data.config("[listener.proxy]\nmax_connections = 4\nhandshake_timeout = \"15s\"\n"),
    );
    // More silent clients than max_connections.
    let silent = silent_clients(gw.addr("gw"), 6);
    within(WAIT, "the silent clients to be accepted", || {
        metric(&gw, r#"mtlsd_connections_total{listener="gw"}"#) >= 4.0
    });
    let (status, took) = curl_from("127.0.0.2", &gw, &a, &data.ca());
    assert_eq!(
        status, 400,
        "a client from another address was not served while silent clients handshake (took {took:?})"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(silent);
}

#[test]
fn handshakes_per_source_are_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, _) = setup(&data);
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data.config(
            "[listener.proxy]\nmax_connections = 4\nhandshake_timeout = \"15s\"\n\
             max_handshakes = 8\nmax_handshakes_per_source = 2\n",
        ),
    );
    let refused =
        r#"mtlsd_handshakes_refused_total{listener="gw",reason="max_handshakes_per_source"}"#;
    let silent = silent_clients(gw.addr("gw"), 5);
    // Two handshakes of 127.0.0.1 are in progress; the other three are closed at once.
    gw.wait_metric(refused, 3.0);
    // The refused ones read EOF (or a reset); the two in their handshake time out.
    let closed = silent
        .iter()
        .filter(|s| {
            let mut s: &TcpStream = s;
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            match s.read(&mut [0u8; 1]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            }
        })
        .count();
    assert_eq!(closed, 3, "silent connections closed by the per-source cap");
    // Log lines reach stderr in batches (every 100 ms): wait, do not read once.
    gw.wait_log("handshake cap reached");
    // Another source is served at once.
    let (status, took) = curl_from("127.0.0.2", &gw, &a, &data.ca());
    assert_eq!(status, 400, "took {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // 127.0.0.1 itself is still at its cap; once its silent clients go, it is served.
    drop(silent);
    within(WAIT, "127.0.0.1 to be served again", || {
        curl_from("127.0.0.1", &gw, &a, &data.ca()).0 == 400
    });
}

/// An HTTP/2 connection to the gateway (hyper client over tokio-rustls).
struct H2 {
    send: hyper::client::conn::http2::SendRequest<http_body_util::Empty<hyper::body::Bytes>>,
}

impl H2 {
    async fn open(addr: SocketAddr, bundle: &Bundle, ca: &std::path::Path) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let chain: Vec<_> = CertificateDer::pem_file_iter(&bundle.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&bundle.key).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let (send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        Self { send }
    }

    /// `CONNECT dest` on a new stream: the status, and the tunnel on 200.
    async fn connect(
        &mut self,
        dest: &str,
    ) -> (
        u16,
        Option<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    ) {
        let request = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(dest)
            .body(http_body_util::Empty::new())
            .unwrap();
        self.send.ready().await.unwrap();
        let response = self.send.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        let upgraded = hyper::upgrade::on(response).await.unwrap();
        (status, Some(hyper_util::rt::TokioIo::new(upgraded)))
    }
}

async fn echo_async(io: &mut hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>, msg: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    io.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(WAIT, io.read_exact(&mut back))
        .await
        .expect("the tunnel echoed in time")
        .unwrap();
    assert_eq!(back, msg);
}

#[test]
fn http2_connect_tunnels_count_against_the_tenants_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let (a, dest) = setup(&data);
    cap_tenant(&data, "a", 2);
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let ca = data.ca();
    let gauge = r#"mtlsd_tenant_active_connections{listener="gw",tenant="a"}"#;
    // The client connection runs on a worker while this thread waits on metrics.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut h2 = H2::open(gw.addr("gw"), &a, &ca).await;
        // The connection's first tunnel rides on its own slot.
        let (status, first) = h2.connect(&dest).await;
        assert_eq!(status, 200);
        let mut first = first.unwrap();
        echo_async(&mut first, b"one").await;
        assert_eq!(metric(&gw, gauge), 1.0);
        // The second one takes the tenant's second slot.
        let (status, second) = h2.connect(&dest).await;
        assert_eq!(status, 200);
        let mut second = second.unwrap();
        echo_async(&mut second, b"two").await;
        assert_eq!(metric(&gw, gauge), 2.0, "the second tunnel is not counted");
        // A third tunnel is over the cap of 2.
        let (status, third) = h2.connect(&dest).await;
        assert_eq!(
            status, 429,
            "a third tunnel was opened past max_connections = 2"
        );
        assert!(third.is_none());
        gw.wait_metric(
            r#"mtlsd_tenant_limited_total{listener="gw",tenant="a",limit="max_connections"}"#,
            1.0,
        );
        // Closing a tunnel gives its slot back.
        drop(second);
        within(WAIT, "the closed tunnel's slot to come back", || {
            metric(&gw, gauge) == 1.0
        });
        let (status, again) = h2.connect(&dest).await;
        assert_eq!(status, 200);
        echo_async(&mut again.unwrap(), b"three").await;
        echo_async(&mut first, b"still").await;
    });
}

#[test]
fn tenants_without_a_cap_get_the_listeners_default() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    // `a` has no limits in the registry; `b` has its own cap of 2.
    let (a, _) = setup(&data);
    let b = data.tenant("b");
    data.store()
        .add_route(
            &actor(),
            &tenant("b"),
            http_route("ws.localhost", upgrade_backend()),
        )
        .unwrap();
    cap_tenant(&data, "b", 2);
    let gw = Mtlsd::start(
        tmp.path(),
        "mtlsd.toml",
        &data.config("[listener.gateway]\ntenant_max_connections = 1\n"),
    );
    let ca = data.ca();
    let mut first = Conn::open(gw.addr("gw"), &a, &ca);
    assert_eq!(first.get("ws.localhost", "/").unwrap().0, 400);
    let mut second = Conn::open(gw.addr("gw"), &a, &ca);
    assert!(
        second.get("ws.localhost", "/").is_err(),
        "a second connection of a tenant without a cap was served past the default of 1"
    );
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="max_connections"}"#,
        1.0,
    );
    // The registry's own value overrides the default.
    let mut b1 = Conn::open(gw.addr("gw"), &b, &ca);
    let mut b2 = Conn::open(gw.addr("gw"), &b, &ca);
    assert_eq!(b1.get("ws.localhost", "/").unwrap().0, 400);
    assert_eq!(b2.get("ws.localhost", "/").unwrap().0, 400);
    assert_eq!(first.get("ws.localhost", "/").unwrap().0, 400);
}

/// Sets a tenant's `max_connections` in the registry (no request rate limit).
fn cap_tenant(data: &DataDir, id: &str, max_connections: u32) {
    data.store()
        .set_tenant_limits(
            &actor(),
            &tenant(id),
            TenantLimits {
                max_connections: Some(max_connections),
                requests_per_second: None,
            },
        )
        .unwrap();
}
