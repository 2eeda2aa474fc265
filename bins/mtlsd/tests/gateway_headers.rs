//! End-to-end tests of header and authority edges in gateway mode (real `mtlsd`, `curl`,
//! `openssl s_client` and a raw HTTP/2 client over rustls; loopback only): underscore
//! look-alikes of identity headers, one authority per request, and the HTTP/2 preface on a
//! connection that negotiated `h2`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use mtls_registry::Store;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use support::tenants::{Bundle, Conn, DataDir, actor, curl, http_route, tenant};
use support::{Mtlsd, WAIT};

/// An HTTP/1.1 backend that answers every request with its request head as the body.
fn head_echo_backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(WAIT)).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                let head = &buf[..end + 4];
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = s.write_all(head);
            });
        }
    });
    addr
}

/// A gateway with tenant `a` routed to a head-echo backend for `a.localhost`.
fn gateway(tmp: &Path) -> (Mtlsd, DataDir, Bundle) {
    let data = DataDir::init(tmp);
    let a = data.tenant("a");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", head_echo_backend()),
        )
        .unwrap();
    let gw = Mtlsd::start(tmp, "mtlsd.toml", &data.config(""));
    (gw, data, a)
}

/// curl with `args` against `https://localhost:<port><path>`: (status, body).
fn curl_status(bundle: &Bundle, ca: &Path, args: &[&str], url: &str) -> (u16, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-w", "\n%{http_code}", url]);
    let out = curl(bundle, ca, &all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (
        code.trim().parse().unwrap_or(0),
        format!("{body}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn underscore_look_alikes_of_identity_headers_never_reach_the_upstream() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, data, a) = gateway(tmp.path());
    let url = format!("https://localhost:{}/", gw.addr("gw").port());
    let (status, head) = curl_status(
        &a,
        &data.ca(),
        &[
            "-H",
            "Host: a.localhost",
            "-H",
            "x_mtls_tenant: b",
            "-H",
            "X_Forwarded_Client_Cert: Hash=evil;URI=spiffe://gw.test/tenant/b",
            "-H",
            "x-forwarded_client-cert: Hash=evil",
            "-H",
            "x_forwarded_for: 10.9.9.9",
            "-H",
            "x_api_key: kept",
        ],
        &url,
    );
    assert_eq!(status, 200, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-mtls-tenant: a\r\n"), "{head}");
    for spoof in [
        "x_mtls_tenant",
        "x_forwarded_client_cert",
        "x-forwarded_client-cert",
        "x_forwarded_for",
        "hash=evil",
        "10.9.9.9",
    ] {
        assert!(
            !lower.contains(spoof),
            "{spoof} reached the upstream:\n{head}"
        );
    }
    // Underscore names that shadow nothing the proxy vouches for pass.
    assert!(lower.contains("\r\nx_api_key: kept\r\n"), "{head}");
}

#[test]
fn two_host_fields_are_refused_with_400() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, data, a) = gateway(tmp.path());
    // curl folds two `-H 'Host: ..'` into one, so the request is written as it is, over
    // an mTLS connection with the tenant's certificate.
    let mut conn = Conn::open(gw.addr("gw"), &a, &data.ca());
    conn.send_raw(
        b"GET / HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\nConnection: close\r\n\r\n",
    );
    let mut reply = String::new();
    conn.read_to_string_lossy(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    assert!(reply.contains(r#""error":"ambiguous_host""#), "{reply}");
    assert!(
        !reply.contains("x-mtls-tenant"),
        "reached the upstream: {reply}"
    );
    // One Host is served.
    let url = format!("https://localhost:{}/", gw.addr("gw").port());
    let (status, body) = curl_status(&a, &data.ca(), &["-H", "Host: a.localhost"], &url);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn absolute_form_target_naming_another_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, data, a) = gateway(tmp.path());
    let url = format!("https://localhost:{}/", gw.addr("gw").port());
    let (status, body) = curl_status(
        &a,
        &data.ca(),
        &[
            "--http1.1",
            "--request-target",
            "https://b.localhost/path",
            "-H",
            "Host: a.localhost",
        ],
        &url,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""error":"ambiguous_host""#), "{body}");
    // The same target with an agreeing Host (default port written out) is routed on it.
    let (status, body) = curl_status(
        &a,
        &data.ca(),
        &[
            "--http1.1",
            "--request-target",
            "https://a.localhost/path",
            "-H",
            "Host: A.localhost:443",
        ],
        &url,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("\r\nx-forwarded-host: a.localhost\r\n"),
        "{body}"
    );
}

/// A TLS client with the tenant's certificate that offers only `h2`.
fn h2_tls(
    addr: SocketAddr,
    bundle: &Bundle,
    ca: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
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
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    tls
}

/// One HTTP/2 frame header (9 bytes) plus payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = len[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK "literal header field without indexing" with a literal name (RFC 7541 6.2.2).
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name.as_bytes());
    out.push(u8::try_from(value.len()).unwrap());
    out.extend_from_slice(value.as_bytes());
}

/// Sends one GET on stream 1 with `:authority` and an optional `host` field, and returns
/// the response's `:status` (read from the HPACK static table, which is how hyper's h2
/// server encodes 200 and 400).
fn h2_get_status(
    addr: SocketAddr,
    bundle: &Bundle,
    ca: &Path,
    authority: &str,
    host: Option<&str>,
) -> u16 {
    let mut tls = h2_tls(addr, bundle, ca);
    let mut block = vec![0x82, 0x87, 0x84]; // :method GET, :scheme https, :path /
    literal(&mut block, ":authority", authority);
    if let Some(host) = host {
        literal(&mut block, "host", host);
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(0x4, 0, 0, &[])); // SETTINGS
    out.extend(frame(0x1, 0x5, 1, &block)); // HEADERS, END_STREAM | END_HEADERS
    tls.write_all(&out).unwrap();
    tls.flush().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no response HEADERS");
        let mut head = [0u8; 9];
        tls.read_exact(&mut head).unwrap();
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        tls.read_exact(&mut payload).unwrap();
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        match (head[3], stream) {
            (0x1, 1) => {
                return match payload.first() {
                    Some(0x88) => 200,
                    Some(0x8c) => 400,
                    Some(0x8d) => 404,
                    other => panic!("unexpected :status encoding {other:?} in {payload:?}"),
                };
            }
            (0x7, _) => panic!("GOAWAY before a response: {payload:?}"),
            (0x3, 1) => panic!("stream reset: {payload:?}"),
            _ => {}
        }
    }
}

#[test]
fn h2_host_field_differing_from_authority_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, data, a) = gateway(tmp.path());
    let addr = gw.addr("gw");
    let ca = data.ca();
    assert_eq!(h2_get_status(addr, &a, &ca, "a.localhost", None), 200);
    assert_eq!(
        h2_get_status(addr, &a, &ca, "a.localhost", Some("a.localhost:443")),
        200
    );
    assert_eq!(
        h2_get_status(addr, &a, &ca, "a.localhost", Some("b.localhost")),
        400
    );
    gw.wait_log("error=\"ambiguous_host\"");
}

#[test]
fn h2_connection_with_an_http1_request_line_gets_goaway() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, data, a) = gateway(tmp.path());
    let mut child = Command::new("/usr/bin/openssl")
        .args([
            "s_client",
            "-quiet",
            "-alpn",
            "h2",
            "-connect",
            &format!("127.0.0.1:{}", gw.addr("gw").port()),
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(data.ca())
        .arg("-cert")
        .arg(&a.cert)
        .arg("-key")
        .arg(&a.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
        .unwrap();
    // -quiet implies -ign_eof: s_client exits when the server closes.
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the gateway did not close the connection"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let got = out.stdout;
    let shown = String::from_utf8_lossy(&got);
    assert!(!shown.contains("HTTP/1.1"), "answered in HTTP/1: {shown}");
    // SETTINGS (the server preface, empty) and then GOAWAY with PROTOCOL_ERROR.
    assert!(
        got.len() >= 9 + 17,
        "short reply {got:?} ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&got[..9], &[0, 0, 0, 0x4, 0, 0, 0, 0, 0], "{got:?}");
    let goaway = &got[9..];
    assert_eq!(goaway[3], 0x7, "not a GOAWAY: {got:?}");
    assert_eq!(&goaway[9..13], &[0, 0, 0, 0], "last stream id: {got:?}");
    assert_eq!(&goaway[13..17], &[0, 0, 0, 1], "PROTOCOL_ERROR: {got:?}");
    gw.wait_log("closing h2 connection without a valid preface");
}
