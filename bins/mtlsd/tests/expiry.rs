//! Certificate expiry on live and resumed connections, and the TLS 1.2 suite order: the real
//! `mtlsd` (server and gateway mode) with client certificates that expire a few seconds into
//! the test, `openssl s_client` saving and resuming sessions, loopback only.

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mtls_ca::{
    CaConfig, CertificateAuthority, ClientCertRequest, IssuedCertificate, Overwrite,
    ServerCertRequest, write_private_file, write_public_file,
};
use mtls_identity::{TenantId, TrustDomain};
use mtls_registry::{CertificateKind, NewCertificate, Store};
use support::tenants::{Bundle, Conn, DataDir, actor, http_route, named_backend, tenant};
use support::{Mtlsd, echo_backend};
use time::OffsetDateTime;

/// How long the short-lived client certificates are valid: long enough for the steps before
/// expiry (a handshake, a resumption), short enough for a quick test.
const SHORT: Duration = Duration::from_secs(5);

fn write_bundle(dir: &Path, issued: &IssuedCertificate) -> Bundle {
    std::fs::create_dir_all(dir).unwrap();
    let bundle = Bundle {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    write_public_file(&bundle.cert, issued.chain_pem.as_bytes(), Overwrite::Never).unwrap();
    write_private_file(
        &bundle.key,
        issued.key_pem.as_ref().unwrap().as_bytes(),
        Overwrite::Never,
    )
    .unwrap();
    bundle
}

/// The certificate's notAfter as encoded (whole seconds: X.509 times have no fraction).
fn encoded_not_after(issued: &IssuedCertificate) -> OffsetDateTime {
    issued.not_after.replace_nanosecond(0).unwrap()
}

/// Blocks until the wall clock is a second past `not_after` (bounded: the certificate
/// expires a few seconds after it was issued). This is the wait for the clock the test is
/// about. The extra second: webpki compares whole seconds, so only then does a full
/// handshake fail on the expiry (before, it passes and the check after the handshake
/// refuses the connection).
fn wait_until_expired(not_after: OffsetDateTime) {
    support::wait_for("the certificate to expire", || {
        OffsetDateTime::now_utc() > not_after + time::Duration::milliseconds(1100)
    });
}

/// A server-mode PKI from `mtls-ca`: ca.pem, server cert/key for localhost, and client
/// certificates issued on demand.
struct ServerPki {
    dir: PathBuf,
    ca: CertificateAuthority,
}

impl ServerPki {
    fn new(dir: &Path) -> Self {
        let ca = CertificateAuthority::generate(&CaConfig::default()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.root_pem()).unwrap();
        let mut req = ServerCertRequest::new(["localhost"]);
        req.ip_addresses = vec!["127.0.0.1".parse().unwrap()];
        let server = ca.issue_server(&req).unwrap();
        write_bundle(&dir.join("server"), &server);
        Self {
            dir: dir.to_owned(),
            ca,
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A client certificate for tenant-like name `name`, valid for `validity` from now.
    fn client(&self, name: &str, validity: Duration) -> (Bundle, OffsetDateTime) {
        let mut req = ClientCertRequest::new(
            TrustDomain::try_new("example.test").unwrap(),
            TenantId::try_new(name).unwrap(),
            name,
        );
        req.validity = validity;
        let issued = self.ca.issue_client(&req).unwrap();
        (
            write_bundle(&self.dir.join(name), &issued),
            encoded_not_after(&issued),
        )
    }

    /// A server-mode listener `api` to `target`, requiring client certificates of this CA.
    fn config(&self, target: std::net::SocketAddr) -> String {
        format!(
            r#"
[[listener]]
name = "api"
mode = "server"
listen = "127.0.0.1:0"
target = "{target}"

[listener.tls]
cert = "{dir}/server/cert.pem"
key = "{dir}/server/key.pem"
ca = "{dir}/ca.pem"

[health]
enabled = true
listen = "127.0.0.1:0"

[metrics]
enabled = true
listen = "127.0.0.1:0"
"#,
            dir = self.dir.display()
        )
    }
}

/// A certificate for `tenant_id` from the data dir's CA, valid for `validity` from now and
/// recorded in the registry (so the gateway admits it until it expires).
fn short_lived_tenant_cert(
    data: &DataDir,
    tenant_id: &str,
    validity: Duration,
) -> (Bundle, OffsetDateTime) {
    let ca = CertificateAuthority::load(&data.root.join("ca")).unwrap();
    let store = data.store();
    let mut issued = None;
    store
        .record_certificate(&actor(), &tenant(tenant_id), &mut |t| {
            let mut req = ClientCertRequest::new(
                TrustDomain::try_new("gw.test").unwrap(),
                TenantId::try_new(tenant_id).unwrap(),
                t.display_name.clone(),
            );
            req.validity = validity;
            let cert = ca.issue_client(&req)?;
            let new = NewCertificate {
                serial: cert.serial.clone(),
                fingerprint: cert.fingerprint,
                not_before: cert.not_before,
                not_after: cert.not_after,
                kind: CertificateKind::Client,
            };
            issued = Some(cert);
            Ok(new)
        })
        .unwrap();
    let issued = issued.unwrap();
    (
        write_bundle(&data.tmp.join(format!("{tenant_id}-short")), &issued),
        encoded_not_after(&issued),
    )
}

/// One `openssl s_client` run: sends `input`, waits (bounded) until `expect` arrives from the
/// server or s_client exits, then closes stdin; returns stdout and stderr.
fn s_client(
    port: u16,
    bundle: &Bundle,
    ca: &Path,
    args: &[&OsStr],
    input: &[u8],
    expect: &str,
) -> String {
    let mut child = Command::new("/usr/bin/openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(ca)
        .arg("-cert")
        .arg(&bundle.cert)
        .arg("-key")
        .arg(&bundle.key)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    for mut stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let sink = output.clone();
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }));
    }
    let mut stdin = child.stdin.take().unwrap();
    // A write error means s_client already exited (refused): its output says why.
    let _ = stdin.write_all(input);
    let _ = stdin.flush();
    let deadline = Instant::now() + support::WAIT;
    loop {
        // The reply (and so every session ticket sent before it) has arrived, or s_client
        // ended because the server closed the connection.
        if output.lock().unwrap().contains(expect) || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "s_client neither got {expect:?} nor exited:\n{}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "s_client hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    for r in readers {
        r.join().unwrap();
    }
    output.lock().unwrap().clone()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[test]
fn server_mode_closes_a_live_connection_when_its_certificate_expires() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = ServerPki::new(tmp.path());
    let (short, not_after) = pki.client("short", SHORT);
    let (long, _) = pki.client("long", Duration::from_secs(3600));
    let proxy = Mtlsd::start(tmp.path(), "mtlsd.toml", &pki.config(echo_backend()));
    let addr = proxy.addr("api");

    let mut expiring = Conn::open(addr, &short, &pki.ca());
    let mut lasting = Conn::open(addr, &long, &pki.ca());
    assert_eq!(expiring.echo(b"before expiry"), b"before expiry");
    assert_eq!(lasting.echo(b"before expiry"), b"before expiry");

    // The connection ends at notAfter: not before, and promptly after.
    assert_closed_at(&mut expiring, not_after);
    proxy.wait_log("reason=\"certificate_expired\"");
    proxy.wait_metric(
        r#"mtlsd_connections_closed_total{listener="api",reason="certificate_expired"}"#,
        1.0,
    );
    // Another client's connection carries on.
    assert_eq!(lasting.echo(b"after expiry"), b"after expiry");
}

#[test]
fn server_mode_refuses_a_session_resumed_after_the_certificate_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = ServerPki::new(tmp.path());
    let (short, not_after) = pki.client("short", SHORT);
    let proxy = Mtlsd::start(tmp.path(), "mtlsd.toml", &pki.config(echo_backend()));
    let port = proxy.addr("api").port();
    let ca = pki.ca();
    let (sess, sess2) = (tmp.path().join("sess.pem"), tmp.path().join("sess2.pem"));
    let tls13 = os("-tls1_3");

    let first = s_client(
        port,
        &short,
        &ca,
        &[tls13, os("-sess_out"), sess.as_os_str()],
        b"first\n",
        "first",
    );
    assert!(first.contains("\nfirst"), "{first}");
    // Resumption works while the certificate is valid (rustls' session ids are single-use:
    // keep the next one for after expiry).
    let resumed = s_client(
        port,
        &short,
        &ca,
        &[
            tls13,
            os("-sess_in"),
            sess.as_os_str(),
            os("-sess_out"),
            sess2.as_os_str(),
        ],
        b"resumed\n",
        "resumed",
    );
    assert!(resumed.contains("Reused, TLSv1.3"), "{resumed}");
    assert!(resumed.contains("\nresumed"), "{resumed}");
    assert!(
        OffsetDateTime::now_utc() < not_after,
        "too slow: expired already"
    );

    wait_until_expired(not_after);
    let late = s_client(
        port,
        &short,
        &ca,
        &[tls13, os("-sess_in"), sess2.as_os_str()],
        b"late\n",
        "late",
    );
    assert!(
        !late.contains("\nlate"),
        "data passed after expiry:\n{late}"
    );
    // The session entry expired with the certificate: no resumption, and the full handshake
    // fails on the expired certificate.
    assert!(!late.contains("Reused"), "resumed after expiry:\n{late}");
    proxy.wait_metric(
        r#"mtlsd_tls_handshake_failures_total{listener="api",reason="cert_expired"}"#,
        1.0,
    );
}

#[test]
fn tls12_suite_order_is_the_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = ServerPki::new(tmp.path());
    let (client, _) = pki.client("client", Duration::from_secs(3600));
    let proxy = Mtlsd::start(tmp.path(), "mtlsd.toml", &pki.config(echo_backend()));
    let port = proxy.addr("api").port();
    // The client prefers AES-128; rustls' aws-lc-rs provider lists AES-256-GCM first for
    // TLS 1.2 ECDSA: with the server's order, AES-256 wins.
    let out = s_client(
        port,
        &client,
        &pki.ca(),
        &[os("-tls1_2"), os("-cipher"), os(CLIENT_ORDER)],
        b"suite\n",
        "suite",
    );
    assert!(out.contains("\nsuite"), "{out}");
    assert!(
        out.contains("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384"),
        "the client's order won:\n{out}"
    );

    // The same on a gateway listener (its CA issues P-256 certificates too).
    std::fs::create_dir(tmp.path().join("gw")).unwrap();
    let data = DataDir::init(&tmp.path().join("gw"));
    let a = data.tenant("a");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("upstream-a")),
        )
        .unwrap();
    let gw = Mtlsd::start(&tmp.path().join("gw"), "mtlsd.toml", &data.config(""));
    let out = s_client(
        gw.addr("gw").port(),
        &a,
        &data.ca(),
        &[os("-tls1_2"), os("-cipher"), os(CLIENT_ORDER)],
        b"GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
        "upstream-a for a",
    );
    assert!(out.contains("upstream-a for a"), "{out}");
    assert!(
        out.contains("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384"),
        "the client's order won on the gateway:\n{out}"
    );
}

/// A TLS 1.2 client suite order that differs from the server's (AES-256-GCM first).
const CLIENT_ORDER: &str =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384";

#[test]
fn gateway_closes_a_live_connection_when_its_certificate_expires() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let lasting = data.tenant("a");
    let (short, not_after) = short_lived_tenant_cert(&data, "a", SHORT);
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("upstream-a")),
        )
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let ca = data.ca();

    let mut expiring = Conn::open(gw.addr("gw"), &short, &ca);
    let mut other = Conn::open(gw.addr("gw"), &lasting, &ca);
    assert_eq!(
        expiring.get("a.localhost", "/").unwrap(),
        (200, "upstream-a for a\n".into())
    );
    assert_eq!(other.get("a.localhost", "/").unwrap().0, 200);

    assert_closed_at(&mut expiring, not_after);
    gw.wait_log("reason=\"certificate_expired\"");
    gw.wait_metric(
        r#"mtlsd_tenant_connections_closed_total{listener="gw",reason="certificate_expired"}"#,
        1.0,
    );
    other.set_read_timeout(support::WAIT);
    assert_eq!(other.get("a.localhost", "/").unwrap().0, 200);
}

#[test]
fn gateway_refuses_a_session_resumed_after_the_certificate_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    data.ctl(&["tenant", "create", "a", "--name", "a"]);
    let (short, not_after) = short_lived_tenant_cert(&data, "a", SHORT);
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("upstream-a")),
        )
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();
    let (sess, sess2) = (tmp.path().join("sess.pem"), tmp.path().join("sess2.pem"));
    let get = b"GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n";
    let tls13 = os("-tls1_3");

    let first = s_client(
        port,
        &short,
        &ca,
        &[tls13, os("-sess_out"), sess.as_os_str()],
        get,
        "upstream-a for a",
    );
    assert!(first.contains("upstream-a for a"), "{first}");
    let resumed = s_client(
        port,
        &short,
        &ca,
        &[
            tls13,
            os("-sess_in"),
            sess.as_os_str(),
            os("-sess_out"),
            sess2.as_os_str(),
        ],
        get,
        "upstream-a for a",
    );
    assert!(resumed.contains("Reused, TLSv1.3"), "{resumed}");
    assert!(resumed.contains("upstream-a for a"), "{resumed}");
    assert!(
        OffsetDateTime::now_utc() < not_after,
        "too slow: expired already"
    );

    wait_until_expired(not_after);
    let late = s_client(
        port,
        &short,
        &ca,
        &[tls13, os("-sess_in"), sess2.as_os_str()],
        get,
        "upstream-a for a",
    );
    assert!(!late.contains("upstream-a"), "served after expiry:\n{late}");
    assert!(!late.contains("Reused"), "resumed after expiry:\n{late}");
    gw.wait_metric(
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="cert_expired"}"#,
        1.0,
    );
}

/// Asserts that the proxy closes `conn` at `not_after`: not before, and within 2 s after.
fn assert_closed_at(conn: &mut Conn, not_after: OffsetDateTime) {
    assert!(
        conn.closed_within(SHORT + Duration::from_secs(5)),
        "the connection outlived its certificate"
    );
    let closed_at = OffsetDateTime::now_utc();
    assert!(
        closed_at > not_after,
        "closed at {closed_at}, before {not_after}"
    );
    assert!(
        closed_at < not_after + time::Duration::seconds(2),
        "closed at {closed_at}, long after {not_after}"
    );
}
