//! Helpers for the gateway tests: a data dir made by the real `tenantctl`, registry changes
//! through the mtls-registry API on the same database, named HTTP backends, `curl`, and a
//! long-lived mTLS client connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mtls_identity::{Serial, TenantId};
use mtls_registry::Actor;
use mtls_registry_sqlite::SqliteStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::WAIT;

/// The `tenantctl` binary next to `mtlsd` (built on demand if missing).
pub fn tenantctl() -> PathBuf {
    let mtlsd = Path::new(env!("CARGO_BIN_EXE_mtlsd"));
    let path = mtlsd.with_file_name("tenantctl");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "tenantctl"])
            .status()
            .expect("cargo build -p tenantctl");
        assert!(status.success(), "cannot build tenantctl");
    }
    path
}

/// A client bundle written by `tenantctl cert issue`.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A data dir under a temp dir, made with `tenantctl init`.
pub struct DataDir {
    pub root: PathBuf,
    pub tmp: PathBuf,
    /// A PostgreSQL registry instead of `registry.db` (`MTLS_REGISTRY` for `tenantctl`,
    /// `registry` in [`DataDir::config`]).
    pub registry: Option<String>,
}

impl DataDir {
    pub fn init(tmp: &Path) -> Self {
        Self::init_with(tmp, None)
    }

    /// [`DataDir::init`] with the registry in the PostgreSQL database `url`.
    pub fn init_with(tmp: &Path, registry: Option<&str>) -> Self {
        let me = Self {
            root: tmp.join("data"),
            tmp: tmp.to_owned(),
            registry: registry.map(str::to_owned),
        };
        me.ctl(&["init", "--trust-domain", "gw.test"]);
        me
    }

    /// Runs `tenantctl --data-dir <root> <args>`; panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(tenantctl());
        if let Some(url) = &self.registry {
            cmd.env("MTLS_REGISTRY", url);
        }
        let out = cmd
            .env("MTLS_DATA_DIR", &self.root)
            .env("MTLS_ACTOR", "cli:test")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tenantctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a tenant and issues it a client certificate bundle.
    pub fn tenant(&self, id: &str) -> Bundle {
        self.ctl(&["tenant", "create", id, "--name", id]);
        self.issue(id, id)
    }

    /// Issues another certificate of `id` into `<tmp>/<dir>`.
    pub fn issue(&self, id: &str, dir: &str) -> Bundle {
        let out = self.tmp.join(dir);
        self.ctl(&["cert", "issue", id, "--out", out.to_str().unwrap()]);
        Bundle {
            cert: out.join("cert.pem"),
            key: out.join("key.pem"),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.root.join("ca.pem")
    }

    /// The registry, opened as `tenantctl` would.
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(self.root.join("registry.db")).unwrap()
    }

    /// A gateway config on a free loopback port with metrics.
    pub fn config(&self, extra: &str) -> String {
        let registry = match &self.registry {
            Some(url) => format!("registry = \"{url}\"\n"),
            None => String::new(),
        };
        format!(
            r#"{registry}data_dir = "{}"

[[listener]]
name = "gw"
mode = "gateway"
listen = "127.0.0.1:0"
{extra}

[health]
enabled = true
listen = "127.0.0.1:0"

[metrics]
enabled = true
listen = "127.0.0.1:0"
"#,
            self.root.display()
        )
    }
}

pub fn actor() -> Actor {
    Actor::new("cli:test").unwrap()
}

pub fn tenant(id: &str) -> TenantId {
    id.parse().unwrap()
}

/// The serial of a PEM certificate, read with the openssl CLI.
pub fn serial_of(cert: &Path) -> Serial {
    let out = Command::new("/usr/bin/openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().trim_start_matches("serial=").parse().unwrap()
}

/// An HTTP/1.1 backend answering every request on a connection with `name` (keep-alive).
pub fn named_backend(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { break };
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    let mut headers = String::new();
                    loop {
                        line.clear();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => headers.push_str(&line),
                        }
                    }
                    let tenant = headers
                        .lines()
                        .find_map(|l| l.strip_prefix("x-mtls-tenant: "))
                        .unwrap_or("-")
                        .to_owned();
                    let body = format!("{name} for {tenant}\n");
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if w.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A backend that answers an upgrade request with `101` and then echoes bytes.
pub fn upgrade_backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if !head.contains("upgrade: websocket") {
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                let _ = s.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                );
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
            });
        }
    });
    addr
}

/// Runs curl with a client bundle and the data dir's CA against `https://localhost:<port>`.
pub fn curl(bundle: &Bundle, ca: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cert"])
        .arg(&bundle.cert)
        .arg("--key")
        .arg(&bundle.key)
        .arg("--cacert")
        .arg(ca)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `GET https://localhost:<port><path>` with a `Host` header: (status, body); status 0 when
/// the connection failed.
pub fn get(bundle: &Bundle, ca: &Path, port: u16, host: &str, path: &str) -> (u16, String) {
    let url = format!("https://localhost:{port}{path}");
    let host = format!("Host: {host}");
    let out = curl(bundle, ca, &["-H", &host, "-w", "\n%{http_code}", &url]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// A long-lived HTTP/1.1-over-mTLS connection to the gateway.
pub struct Conn {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr, bundle: &Bundle, ca: &Path) -> Self {
        Self::open_alpn(addr, bundle, ca, b"http/1.1")
    }

    /// Like [`Conn::open`], offering only `alpn` (`h2` for an HTTP/2 connection).
    pub fn open_alpn(addr: SocketAddr, bundle: &Bundle, ca: &Path, alpn: &[u8]) -> Self {
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
        config.alpn_protocols = vec![alpn.to_vec()];
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        Self {
            tls: rustls::StreamOwned::new(conn, tcp),
        }
    }

    /// Completes the handshake; returns the negotiated ALPN protocol.
    pub fn handshake(&mut self) -> Option<Vec<u8>> {
        while self.tls.conn.is_handshaking() {
            self.tls.conn.complete_io(&mut self.tls.sock).unwrap();
        }
        self.tls.conn.alpn_protocol().map(<[u8]>::to_vec)
    }

    pub fn set_read_timeout(&self, t: Duration) {
        self.tls.sock.set_read_timeout(Some(t)).unwrap();
    }

    /// Writes bytes as they are (e.g. an incomplete request head).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    /// Sends a WebSocket-style upgrade request; returns the response status.
    pub fn upgrade(&mut self, host: &str) -> u16 {
        write!(
            self.tls,
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        .unwrap();
        self.tls.flush().unwrap();
        let head = self.read_head().unwrap();
        head[9..12].parse().unwrap()
    }

    /// Sends `CONNECT dest` and returns the status; the tunnel follows on success.
    pub fn connect(&mut self, dest: &str) -> u16 {
        write!(self.tls, "CONNECT {dest} HTTP/1.1\r\nHost: {dest}\r\n\r\n").unwrap();
        self.tls.flush().unwrap();
        let head = self.read_head().unwrap();
        head[9..12].parse().unwrap()
    }

    /// Reads until EOF (or an error) into `out`, lossily as UTF-8.
    pub fn read_to_string_lossy(&mut self, out: &mut String) {
        let mut bytes = Vec::new();
        let _ = self.tls.read_to_end(&mut bytes);
        out.push_str(&String::from_utf8_lossy(&bytes));
    }

    /// Writes `bytes` and reads exactly as many back.
    pub fn echo(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
        let mut back = vec![0u8; bytes.len()];
        self.tls.read_exact(&mut back).unwrap();
        back
    }

    fn read_head(&mut self) -> std::io::Result<String> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if self.tls.read(&mut byte)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&head).into_owned())
    }

    /// Sends one GET and reads the response (Content-Length bodies only).
    pub fn get(&mut self, host: &str, path: &str) -> std::io::Result<(u16, String)> {
        write!(self.tls, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")?;
        self.tls.flush()?;
        let head = self.read_head()?;
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.tls.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// True when the server closed the connection (EOF or error) within `limit`.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.set_read_timeout(limit);
        let mut buf = [0u8; 64];
        match self.tls.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// An HTTP route for `host` to one plain-HTTP upstream, with `allow_private` (test
/// upstreams are on loopback, which is refused otherwise).
pub fn http_route(host: &str, upstream: SocketAddr) -> mtls_route_spec::RouteSpec {
    let mut route = public_http_route(host, &format!("http://{upstream}"));
    route.allow_private = true;
    route.into()
}

/// An HTTP route for `host` to `upstream` (a URL), public destinations only: a loopback
/// upstream is refused when it is dialed (and, as an IP literal, when it is added).
pub fn public_http_route(host: &str, upstream: &str) -> mtls_route_spec::HttpRoute {
    mtls_route_spec::HttpRoute::new(host.parse().unwrap(), vec![upstream.parse().unwrap()])
}

/// Polls `f` every 20 ms for at most `limit`; returns how long it took, panics past `limit`.
pub fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not happen within {limit:?}");
}
