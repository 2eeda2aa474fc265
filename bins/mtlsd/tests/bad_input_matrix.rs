//! The bad-input matrix: one gateway, two tenants, and a table of hostile or broken inputs
//! (request framing and smuggling forms, paths, headers, CONNECT targets in every address
//! notation, client certificates). Each row states its exact refusal; after each row, tenant
//! `b`'s traffic must still be served, and the upstream must not have seen anything a row
//! was refused for. Real mtlsd, real TLS; loopback only.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::OffsetDateTime;

use mtls_registry::Store;
use mtls_route_spec::{ConnectRoute, RouteSpec};
use support::Mtlsd;
use support::tenants::{Bundle, DataDir, actor, get, http_route, named_backend, tenant};

/// What every request an upstream received looked like: its request line and headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// An HTTP/1.1 upstream that records each request (line and headers, bodies by
/// Content-Length or chunked) and answers `200 seen <path>`.
fn recording_backend() -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let record = record.clone();
            std::thread::spawn(move || serve_recorded(stream, &record));
        }
    });
    (addr, seen)
}

fn serve_recorded(stream: TcpStream, record: &Seen) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push_str(&line),
            }
        }
        let lower = head.to_ascii_lowercase();
        if lower.contains("transfer-encoding: chunked") {
            // Chunks, then the trailer section up to its empty line.
            loop {
                let mut size = String::new();
                if reader.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let size =
                    usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap_or(0);
                if size == 0 {
                    loop {
                        let mut trailer = String::new();
                        if reader.read_line(&mut trailer).unwrap_or(0) == 0 || trailer == "\r\n" {
                            break;
                        }
                        head.push_str(&trailer);
                    }
                    break;
                }
                let mut chunk = vec![0; size + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
            }
        } else if let Some(len) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        record.0.lock().unwrap().push(head);
        let body = format!("seen {path}\n");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A client identity for one row: the certificate chain and key a client presents.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    fn from_bundle(bundle: &Bundle) -> Self {
        Self {
            chain: CertificateDer::pem_file_iter(&bundle.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect(),
            key: PrivateKeyDer::from_pem_file(&bundle.key).unwrap(),
        }
    }
}

/// Presents one certificate whatever the server asks for.
#[derive(Debug)]
struct AlwaysPresent(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for AlwaysPresent {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// What the gateway did with a row's input.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The handshake failed (the client saw an alert or a closed connection).
    HandshakeFailed,
    /// An HTTP response: its status and body.
    Response(u16, String),
    /// The handshake completed but the connection closed without a response.
    ClosedWithoutResponse,
}

/// Connects as `identity` (ALPN http/1.1), writes `bytes` and reads until the gateway closes
/// the connection or stops sending.
fn exchange(addr: SocketAddr, ca: &Path, identity: Option<&Identity>, bytes: &[u8]) -> Outcome {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        // Not `with_client_auth_cert`: it refuses to send a certificate it cannot parse, and
        // the garbage row must reach the gateway as it is.
        Some(id) => {
            let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&id.key).unwrap();
            let certified = rustls::sign::CertifiedKey::new(id.chain.clone(), key);
            builder.with_client_cert_resolver(Arc::new(AlwaysPresent(Arc::new(certified))))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, support::WAIT).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return Outcome::HandshakeFailed;
        }
    }
    // TLS 1.3: the server's verdict on the client certificate comes after the client's
    // Finished; a refused certificate shows as an alert on the first read.
    if tls.write_all(bytes).and_then(|()| tls.flush()).is_err() {
        return Outcome::HandshakeFailed;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if out.is_empty() && e.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
                return Outcome::HandshakeFailed;
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let Some(status) = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
    else {
        return Outcome::ClosedWithoutResponse;
    };
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Outcome::Response(status, body)
}

/// What a row expects.
#[derive(Debug)]
enum Expect {
    /// This status; for the gateway's own refusals, its JSON `error` code.
    Status(u16, Option<&'static str>),
    /// Served: the upstream saw exactly one request, for `path`, and none of `absent`
    /// (lowercase substrings of its head: spoofed identity headers).
    Forwarded {
        path: &'static str,
        absent: &'static [&'static str],
    },
    /// The handshake fails and `mtlsd_tls_handshake_failures_total{reason}` counts it.
    Handshake(&'static str),
}

/// A certificate a row presents instead of tenant `a`'s.
enum BadCert {
    Expired,
    NotYetValid,
    ServerAuthOnly,
    CaTrueLeaf,
    OtherCa,
    Garbage,
    SelfSigned,
}

/// Signs a client certificate for tenant `a` with the data dir's CA (a root, as `tenantctl
/// init` makes it), altered as `kind` says (or by a CA the gateway does not trust).
fn bad_cert(data: &DataDir, kind: &BadCert) -> Identity {
    let ca_dir = data.root.join("ca");
    let read = |file: &str| std::fs::read_to_string(ca_dir.join(file)).unwrap();
    let root_key = KeyPair::from_pem(&read("root-key.pem")).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&read("root.pem"), root_key).unwrap();
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::URI(
        "spiffe://gw.test/tenant/a".try_into().unwrap(),
    )];
    params.distinguished_name.push(DnType::CommonName, "a");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::hours(1);
    let key = KeyPair::generate().unwrap();
    let leaf = match kind {
        BadCert::Expired => {
            params.not_before = now - time::Duration::days(3);
            params.not_after = now - time::Duration::days(1);
            params.signed_by(&key, &issuer).unwrap()
        }
        BadCert::NotYetValid => {
            params.not_before = now + time::Duration::days(1);
            params.not_after = now + time::Duration::days(3);
            params.signed_by(&key, &issuer).unwrap()
        }
        BadCert::ServerAuthOnly => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.signed_by(&key, &issuer).unwrap()
        }
        BadCert::CaTrueLeaf => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.signed_by(&key, &issuer).unwrap()
        }
        BadCert::OtherCa => {
            let (other, _) = mtls_test_support::pki::test_ca("someone else's CA");
            params.signed_by(&key, &other).unwrap()
        }
        BadCert::SelfSigned => params.self_signed(&key).unwrap(),
        BadCert::Garbage => {
            return Identity {
                chain: vec![CertificateDer::from(b"\x30\x03not a certificate".to_vec())],
                key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            };
        }
    };
    Identity {
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    }
}

/// One row of the matrix.
struct Row {
    name: &'static str,
    input: Input,
    expect: Expect,
}

enum Input {
    /// Bytes written on tenant `a`'s connection.
    Raw(String),
    /// A GET for `/` on a.localhost with this certificate instead of `a`'s.
    Cert(BadCert),
    /// No client certificate at all.
    NoCert,
}

fn raw(name: &'static str, bytes: impl Into<String>, expect: Expect) -> Row {
    Row {
        name,
        input: Input::Raw(bytes.into()),
        expect,
    }
}

/// A GET for `target` on a.localhost, closing the connection after the answer.
fn get_path(name: &'static str, target: &str, expect: Expect) -> Row {
    raw(
        name,
        format!("GET {target} HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n"),
        expect,
    )
}

/// A GET for /v1/x on a.localhost with one extra header line.
fn get_with(name: &'static str, header: &str, expect: Expect) -> Row {
    raw(
        name,
        format!("GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\n{header}\r\nConnection: close\r\n\r\n"),
        expect,
    )
}

/// `CONNECT target` with the same authority in `Host`.
fn connect(name: &'static str, target: &str, expect: Expect) -> Row {
    raw(
        name,
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
        expect,
    )
}

/// Identity headers a client must never get through to the upstream.
const SPOOFED: &[&str] = &[
    "hash=evil",
    "x-mtls-tenant: b",
    "x_mtls_tenant",
    "x_forwarded_client_cert",
];

fn rows() -> Vec<Row> {
    use Expect::{Forwarded, Handshake, Status};
    vec![
        // Request framing and smuggling forms: refused by the HTTP/1 parser or the gateway's
        // framing check (which also closes the connection), never forwarded.
        raw(
            // RFC 9112 section 6.3: the chunked coding wins, the length is removed before
            // forwarding and the connection closes after the response, so the request
            // hidden behind the chunked body is never read.
            "content-length and transfer-encoding",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
            Forwarded {
                path: "/v1/x",
                absent: &["content-length", "/v1/smuggled"],
            },
        ),
        raw(
            "two different content-lengths",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 4\r\nContent-Length: 40\r\nConnection: close\r\n\r\nabcd",
            Status(400, None),
        ),
        raw(
            "transfer-encoding not ending in chunked",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked, identity\r\nConnection: close\r\n\r\n0\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "obsolete line folding",
            "GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nX-Folded: one\r\n two\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "space before the colon",
            "GET /v1/x HTTP/1.1\r\nHost : a.localhost\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "NUL in a header value",
            "GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nX-Nul: a\0b\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "method with a separator",
            "GE(T /v1/x HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "unknown HTTP version",
            "GET /v1/x HTTP/1.7\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "oversized header",
            format!(
                "GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
                "b".repeat(100 * 1024)
            ),
            Status(431, None),
        ),
        raw(
            "unknown host",
            "GET /v1/x HTTP/1.1\r\nHost: nobody.localhost\r\nConnection: close\r\n\r\n",
            Status(404, Some("no_route")),
        ),
        raw(
            "another tenant's host",
            "GET /v1/x HTTP/1.1\r\nHost: b.localhost\r\nConnection: close\r\n\r\n",
            Status(404, Some("no_route")),
        ),
        raw(
            "two transfer-encodings of chunked",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
            Status(400, Some("bad_request")),
        ),
        raw(
            "negative content-length",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "content-length list",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 1, 2\r\nConnection: close\r\n\r\nab",
            Status(400, None),
        ),
        raw(
            "header name with a space",
            "GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nX Bad: 1\r\nConnection: close\r\n\r\n",
            Status(400, None),
        ),
        raw(
            "transfer-encoding on HTTP/1.0",
            "POST /v1/x HTTP/1.0\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Status(400, None),
        ),
        // Paths: normalised before routing, refused when they cannot be made safe.
        get_path(
            "dot-dot out of the prefix",
            "/v1/../admin/",
            Status(404, Some("no_route")),
        ),
        get_path(
            "encoded dot-dot",
            "/v1/%2e%2e/admin/",
            Status(404, Some("no_route")),
        ),
        get_path(
            "encoded dot-dot, upper case",
            "/v1/%2E%2E/admin/",
            Status(404, Some("no_route")),
        ),
        get_path(
            "half-encoded dot-dot",
            "/v1/.%2e/admin/",
            Status(404, Some("no_route")),
        ),
        get_path(
            "dot-dot above the root",
            "/../../v1/../etc/passwd",
            Status(404, Some("no_route")),
        ),
        get_path("encoded slash", "/v1/a%2Fb", Status(400, Some("bad_path"))),
        get_path(
            "encoded slash, lower case",
            "/v1/a%2fb",
            Status(400, Some("bad_path")),
        ),
        get_path(
            "encoded backslash",
            "/v1/a%5Cb",
            Status(400, Some("bad_path")),
        ),
        get_path("bad escape", "/v1/a%zz", Status(400, Some("bad_path"))),
        get_path("truncated escape", "/v1/a%2", Status(400, Some("bad_path"))),
        get_path("encoded NUL", "/v1/a%00", Status(400, Some("bad_path"))),
        get_path(
            "encoded CRLF",
            "/v1/a%0d%0aX-Evil:%201",
            Status(400, Some("bad_path")),
        ),
        get_path(
            "dot segments and repeated slashes inside the prefix",
            "/v1/./x//y/../z",
            Forwarded {
                path: "/v1/x/z",
                absent: &[],
            },
        ),
        get_path(
            "unreserved escapes are decoded",
            "/v1/%7Euser/%41",
            Forwarded {
                path: "/v1/~user/A",
                absent: &[],
            },
        ),
        // Authority: one host per request.
        raw(
            "two Host fields",
            "GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\nConnection: close\r\n\r\n",
            Status(400, Some("ambiguous_host")),
        ),
        raw(
            "absolute-form target naming another host",
            "GET https://b.localhost/v1/x HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
            Status(400, Some("ambiguous_host")),
        ),
        raw(
            "HTTP/1.1 without Host",
            "GET /v1/x HTTP/1.1\r\nConnection: close\r\n\r\n",
            Status(400, Some("bad_request")),
        ),
        raw(
            "empty Host",
            "GET /v1/x HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
            Status(400, Some("bad_request")),
        ),
        raw(
            "Host with userinfo",
            "GET /v1/x HTTP/1.1\r\nHost: b@a.localhost\r\nConnection: close\r\n\r\n",
            Status(400, Some("bad_request")),
        ),
        // Identity headers: removed, whatever their spelling or place.
        get_with(
            "spoofed x-mtls-tenant",
            "x-mtls-tenant: b",
            Forwarded {
                path: "/v1/x",
                absent: SPOOFED,
            },
        ),
        get_with(
            "spoofed x-forwarded-client-cert",
            "X-Forwarded-Client-Cert: Hash=evil",
            Forwarded {
                path: "/v1/x",
                absent: SPOOFED,
            },
        ),
        get_with(
            "underscore look-alike of x-mtls-tenant",
            "x_mtls_tenant: b",
            Forwarded {
                path: "/v1/x",
                absent: SPOOFED,
            },
        ),
        get_with(
            "underscore look-alike of x-forwarded-client-cert",
            "X_Forwarded_Client_Cert: Hash=evil",
            Forwarded {
                path: "/v1/x",
                absent: SPOOFED,
            },
        ),
        raw(
            "identity headers in chunked trailers",
            "POST /v1/x HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\nTrailer: x-mtls-tenant\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\nx-mtls-tenant: b\r\nx_mtls_tenant: b\r\n\r\n",
            Forwarded {
                path: "/v1/x",
                absent: SPOOFED,
            },
        ),
        // CONNECT targets in every address notation: the only destination a's connect route
        // allows is localhost:22, which resolves to loopback and is refused at dial time.
        connect(
            "CONNECT to a name resolving to loopback",
            "localhost:22",
            Status(403, Some("destination_forbidden")),
        ),
        connect(
            "CONNECT to an IPv4 literal no route allows",
            "127.0.0.1:22",
            Status(403, Some("forbidden")),
        ),
        connect(
            "CONNECT to IPv6 loopback",
            "[::1]:22",
            Status(403, Some("forbidden")),
        ),
        connect(
            "CONNECT to IPv4-mapped loopback",
            "[::ffff:127.0.0.1]:22",
            Status(403, Some("forbidden")),
        ),
        connect(
            "CONNECT to NAT64 loopback",
            "[64:ff9b::7f00:1]:22",
            Status(403, Some("forbidden")),
        ),
        connect(
            "CONNECT to IPv4-compatible loopback",
            "[::127.0.0.1]:22",
            Status(403, Some("forbidden")),
        ),
        connect(
            "CONNECT to a decimal IPv4",
            "2130706433:22",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT to a hex IPv4",
            "0x7f.0.0.1:22",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT to a short IPv4",
            "127.1:22",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT without a port",
            "localhost",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT to port 0",
            "localhost:0",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT to port 65536",
            "localhost:65536",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT with userinfo",
            "a@localhost:22",
            Status(400, Some("bad_request")),
        ),
        connect(
            "CONNECT to a scoped IPv6",
            "[fe80::1%25lo]:22",
            Status(400, Some("bad_request")),
        ),
        connect("CONNECT to a path", "/v1/x", Status(400, None)),
        // Certificates.
        Row {
            name: "expired certificate",
            input: Input::Cert(BadCert::Expired),
            expect: Handshake("cert_expired"),
        },
        Row {
            name: "not yet valid certificate",
            input: Input::Cert(BadCert::NotYetValid),
            expect: Handshake("cert_not_yet_valid"),
        },
        Row {
            name: "serverAuth-only certificate",
            input: Input::Cert(BadCert::ServerAuthOnly),
            expect: Handshake("bad_certificate"),
        },
        Row {
            name: "CA:TRUE leaf",
            input: Input::Cert(BadCert::CaTrueLeaf),
            expect: Handshake("bad_certificate"),
        },
        Row {
            name: "certificate of another CA",
            input: Input::Cert(BadCert::OtherCa),
            expect: Handshake("unknown_ca"),
        },
        Row {
            name: "self-signed certificate",
            input: Input::Cert(BadCert::SelfSigned),
            expect: Handshake("unknown_ca"),
        },
        Row {
            name: "garbage certificate",
            input: Input::Cert(BadCert::Garbage),
            expect: Handshake("bad_certificate"),
        },
        Row {
            name: "no client certificate",
            input: Input::NoCert,
            expect: Handshake("no_client_cert"),
        },
    ]
}

#[test]
fn every_bad_input_gets_its_exact_refusal_and_other_tenants_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let b = data.tenant("b");
    let store = data.store();
    let (upstream, seen) = recording_backend();
    let mut v1 = http_route("a.localhost", upstream);
    if let RouteSpec::Http(route) = &mut v1 {
        route.path_prefix = "/v1".parse().unwrap();
    }
    store.add_route(&actor(), &tenant("a"), v1).unwrap();
    let b_upstream = named_backend("b-up");
    store
        .add_route(
            &actor(),
            &tenant("b"),
            http_route("b.localhost", b_upstream),
        )
        .unwrap();
    // A name that resolves to loopback: allowed by the pattern, refused at dial time.
    let connect = ConnectRoute::new(vec!["localhost:22".parse().unwrap()]);
    store
        .add_route(&actor(), &tenant("a"), RouteSpec::Connect(connect))
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let addr = gw.addr("gw");
    let ca = data.ca();
    let a_identity = Identity::from_bundle(&a);

    // The route really serves: the matrix's refusals are not a broken set-up.
    let ok = exchange(
        addr,
        &ca,
        Some(&a_identity),
        b"GET /v1/ok HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok, Outcome::Response(200, "seen /v1/ok\n".to_owned()));
    seen.take();

    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let failures_before = |reason: &str| {
            gw.metric(&format!(
                r#"mtlsd_tls_handshake_failures_total{{listener="gw",reason="{reason}"}}"#
            ))
            .unwrap_or(0.0)
        };
        let counted_before = match &row.expect {
            Expect::Handshake(reason) => failures_before(reason),
            Expect::Status(..) | Expect::Forwarded { .. } => 0.0,
        };
        let outcome = match &row.input {
            Input::Raw(bytes) => {
                // No raw row expects a connection without an answer. One can still happen when
                // the gateway answers and closes with input unread (an oversized head): the
                // kernel may reset the connection before the answer is read (a known race,
                // noted on issue 13). Up to 3 attempts; the answer, once read, is judged.
                let mut outcome = exchange(addr, &ca, Some(&a_identity), bytes.as_bytes());
                for _ in 0..2 {
                    if !matches!(
                        outcome,
                        Outcome::ClosedWithoutResponse | Outcome::HandshakeFailed
                    ) {
                        break;
                    }
                    outcome = exchange(addr, &ca, Some(&a_identity), bytes.as_bytes());
                }
                outcome
            }
            Input::Cert(kind) => exchange(
                addr,
                &ca,
                Some(&bad_cert(&data, kind)),
                b"GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
            ),
            Input::NoCert => exchange(
                addr,
                &ca,
                None,
                b"GET /v1/x HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
            ),
        };
        let verdict = match (&row.expect, &outcome) {
            (Expect::Status(status, code), Outcome::Response(got, body)) => {
                let code_ok = code.is_none_or(|c| body.contains(&format!(r#""error":"{c}""#)));
                (got == status && code_ok).then_some(())
            }
            (Expect::Forwarded { path, absent }, Outcome::Response(200, body)) => {
                let heads = seen.take();
                let ok = body == &format!("seen {path}\n")
                    && heads.len() == 1
                    && heads[0].split_whitespace().nth(1) == Some(path)
                    && heads[0].to_ascii_lowercase().contains("x-mtls-tenant: a")
                    && absent
                        .iter()
                        .all(|bad| !heads[0].to_ascii_lowercase().contains(bad));
                if !ok {
                    failures.push(format!("{}: the upstream saw {heads:?}", row.name));
                }
                Some(())
            }
            (Expect::Handshake(reason), Outcome::HandshakeFailed) => {
                // The failure is counted once the server has processed the alert; give it
                // until the deadline, and the row fails if the count never moves.
                let deadline = std::time::Instant::now() + support::WAIT;
                loop {
                    if failures_before(reason) > counted_before {
                        break Some(());
                    }
                    if std::time::Instant::now() > deadline {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            _ => None,
        };
        if verdict.is_none() {
            failures.push(format!(
                "{}: expected {:?}, got {outcome:?}",
                row.name, row.expect
            ));
        }
        // Nothing a refused row sent reached the upstream.
        let leaked = seen.take();
        if !leaked.is_empty() {
            failures.push(format!("{}: the upstream saw {leaked:?}", row.name));
        }
        // And the other tenant is served throughout.
        assert_eq!(
            get(&b, &ca, addr.port(), "b.localhost", "/"),
            (200, "b-up for b\n".to_owned()),
            "after row {:?}",
            row.name
        );
    }
    assert!(rows.len() >= 40, "the matrix has only {} rows", rows.len());
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}\nstderr:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n"),
        gw.stderr()
    );
}
