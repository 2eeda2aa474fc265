//! Real TLS clients (`openssl s_client`, `curl`) against server mode; bad clients refused
//! and counted by reason; ACL deny.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

use support::*;

/// Runs `openssl s_client` against `addr` with `args`, sending `input`; returns
/// (exit code, stdout).
fn s_client(addr: SocketAddr, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new("/usr/bin/openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(["-servername", "localhost", "-quiet", "-verify_return_error"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    // stdin is closed: s_client sends what it read, then exits at EOF of the connection.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "openssl s_client hung"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn p(dir: &Path, f: &str) -> String {
    dir.join(f).display().to_string()
}

#[test]
fn openssl_and_curl_work_and_bad_clients_are_refused_by_reason() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let http = http_backend();
    let server = Mtlsd::start(d, "server.toml", &server_config(&pki, http, ""));
    let api = server.addr("api");
    let ca = p(d, "ca.pem");

    // openssl s_client with the client certificate gets through to the HTTP backend.
    let (_, out) = s_client(
        api,
        &[
            "-CAfile",
            &ca,
            "-cert",
            &p(d, "client.pem"),
            "-key",
            &p(d, "client-key.pem"),
            "-ign_eof",
        ],
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(out.contains("hello from backend"), "s_client output: {out}");

    // curl --cert over TLS 1.2 and 1.3.
    for version in ["--tlsv1.2", "--tlsv1.3"] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", version, "--cacert", &ca])
            .args([
                "--cert",
                &p(d, "client.pem"),
                "--key",
                &p(d, "client-key.pem"),
            ])
            .arg(format!("https://localhost:{}/", api.port()))
            .args(["--resolve", &format!("localhost:{}:127.0.0.1", api.port())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from backend\n");
    }
    server.wait_metric(
        "mtlsd_acl_decisions_total{listener=\"api\",result=\"allow\"}",
        3.0,
    );

    // No client certificate.
    let (_, out) = s_client(api, &["-CAfile", &ca], "GET / HTTP/1.0\r\n\r\n");
    assert!(!out.contains("hello from backend"));
    server.wait_metric(
        "mtlsd_tls_handshake_failures_total{listener=\"api\",reason=\"no_client_cert\"}",
        1.0,
    );

    // A certificate from another CA.
    let other = Ca::new("someone else's CA");
    let (cert, key) = other.issue(Leaf::client("frontend"));
    pki.write("stranger.pem", &cert);
    pki.write("stranger-key.pem", &key);
    let (_, out) = s_client(
        api,
        &[
            "-CAfile",
            &ca,
            "-cert",
            &p(d, "stranger.pem"),
            "-key",
            &p(d, "stranger-key.pem"),
        ],
        "GET / HTTP/1.0\r\n\r\n",
    );
    assert!(!out.contains("hello from backend"));
    server.wait_metric(
        "mtlsd_tls_handshake_failures_total{listener=\"api\",reason=\"unknown_ca\"}",
        1.0,
    );

    // An expired certificate from the right CA.
    pki.write_leaf(
        "expired",
        Leaf {
            expired: true,
            ..Leaf::client("frontend")
        },
    );
    let (_, out) = s_client(
        api,
        &[
            "-CAfile",
            &ca,
            "-cert",
            &p(d, "expired.pem"),
            "-key",
            &p(d, "expired-key.pem"),
        ],
        "GET / HTTP/1.0\r\n\r\n",
    );
    assert!(!out.contains("hello from backend"));
    server.wait_metric(
        "mtlsd_tls_handshake_failures_total{listener=\"api\",reason=\"cert_expired\"}",
        1.0,
    );

    // TLS 1.1 (OpenSSL 3 needs security level 0 to even offer it).
    let (code, _) = s_client(
        api,
        &[
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-CAfile",
            &ca,
            "-cert",
            &p(d, "client.pem"),
            "-key",
            &p(d, "client-key.pem"),
        ],
        "",
    );
    assert_ne!(code, 0);
    server.wait_metric(
        "mtlsd_tls_handshake_failures_total{listener=\"api\",reason=\"protocol_version\"}",
        1.0,
    );

    // Plain bytes on the TLS port: closed, nothing forwarded.
    let mut plain = TcpStream::connect_timeout(&api, WAIT).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(!String::from_utf8_lossy(&reply).contains("hello from backend"));
    server.wait_metric(
        "mtlsd_tls_handshake_failures_total{listener=\"api\",reason=\"not_tls\"}",
        1.0,
    );

    // None of the refused clients reached the ACL or the backend.
    assert_eq!(
        server.metric("mtlsd_acl_decisions_total{listener=\"api\",result=\"allow\"}"),
        Some(3.0)
    );
    // Per-listener series exist from the start, at zero.
    assert_eq!(
        server.metric("mtlsd_acl_decisions_total{listener=\"api\",result=\"deny\"}"),
        Some(0.0)
    );
    server.wait_log("TLS handshake failed");
}

#[test]
fn acl_denies_a_verified_certificate_that_matches_no_rule() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let echo = echo_backend();
    let server = Mtlsd::start(
        d,
        "server.toml",
        &server_config(
            &pki,
            echo,
            "allow_cn = [\"backend\"]\nallow_uri = [\"spiffe://example.test/tenant/globex*\"]",
        ),
    );
    let client = Mtlsd::start(
        d,
        "client.toml",
        &client_config(&pki, server.addr("api"), "client"),
    );
    // The handshake succeeds (the certificate is valid) but the ACL closes the connection
    // before anything reaches the backend.
    let reply = roundtrip(client.addr("tunnel"), b"let me in");
    assert!(reply.is_empty(), "{reply:?}");
    server.wait_metric(
        "mtlsd_acl_decisions_total{listener=\"api\",result=\"deny\"}",
        1.0,
    );
    server.wait_log("connection denied");
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("connection denied"))
        .unwrap();
    assert!(line.contains("peer_cn=\"frontend\""), "{line}");
    assert!(line.contains("spiffe://example.test/tenant/acme"), "{line}");
    assert!(line.contains("no ACL rule matches"), "{line}");
    assert_eq!(
        server
            .metric("mtlsd_bytes_proxied_total{listener=\"api\",direction=\"client_to_upstream\"}"),
        Some(0.0)
    );
}
