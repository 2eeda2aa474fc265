//! Shared helpers for the `mtlsd` end-to-end tests: a throwaway PKI (rcgen), the real binary
//! as a child process (killed on drop), loopback backends, bounded waits.

#![allow(dead_code, unused_imports, unreachable_pub)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod pki;
pub mod tenants;

pub use pki::{Ca, Leaf, Pki};

pub const WAIT: Duration = Duration::from_secs(20);

/// A running `mtlsd`; killed on drop.
pub struct Mtlsd {
    pub child: Child,
    pub addrs: HashMap<String, SocketAddr>,
    stderr: Arc<Mutex<String>>,
}

impl Mtlsd {
    /// Writes `config` to `<dir>/<file>` and starts `mtlsd --config` on it, waiting for
    /// `ready` on stdout.
    pub fn start(dir: &Path, file: &str, config: &str) -> Self {
        let path = dir.join(file);
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
            .arg("--config")
            .arg(&path)
            .env("MTLS_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut me = Self {
            child,
            addrs: HashMap::new(),
            stderr,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == "ready" => break,
                Ok(line) => {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    if let ["bound", _, name, addr] = parts[..] {
                        me.addrs.insert(name.to_owned(), addr.parse().unwrap());
                    }
                }
                Err(_) => panic!("mtlsd did not become ready; stderr:\n{}", me.stderr()),
            }
        }
        me
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs[name]
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "log line {needle:?} never appeared; stderr:\n{}",
            self.stderr()
        );
    }

    /// Waits until a line of stderr satisfies `matches` (`what` names it in the failure).
    /// mtlsd writes its log in batches, so a line logged after the one a test waited for
    /// may not be on stderr yet: wait for every line a test needs.
    pub fn wait_log_line(&self, what: &str, matches: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.stderr().lines().any(&matches) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what} never appeared; stderr:\n{}", self.stderr());
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for exit and returns the status code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mtlsd did not exit; stderr:\n{}", self.stderr());
    }

    /// GETs a path on the named admin socket; returns (status, body).
    pub fn get(&self, admin: &str, path: &str) -> (u16, String) {
        http_get(self.addr(admin), path)
    }

    /// The value of one metric series (exact name with labels), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("health+metrics", "/metrics");
        body.lines().find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// Waits until a metric series is exactly `value` (a gauge falling back to 0, say: the
    /// series must exist and hold that value, not merely be present).
    pub fn wait_metric_eq(&self, series: &str, value: f64) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.metric(series) == Some(value) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, body) = self.get("health+metrics", "/metrics");
        panic!(
            "metric {series} never became {value}; metrics:\n{body}\nstderr:\n{}",
            self.stderr()
        );
    }

    /// Waits until gateway listener `listener` serves registry `version` or newer (its
    /// `mtlsd_registry_version` gauge): the change that produced `version` is live then.
    pub fn wait_registry_version(&self, listener: &str, version: u64) {
        let series = format!("mtlsd_registry_version{{listener=\"{listener}\"}}");
        // Registry versions are small integers: exact in an f64.
        self.wait_metric(&series, version as f64);
    }

    /// Waits until a metric series reaches at least `min`.
    pub fn wait_metric(&self, series: &str, min: f64) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.metric(series).is_some_and(|v| v >= min) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, body) = self.get("health+metrics", "/metrics");
        panic!(
            "metric {series} never reached {min}; metrics:\n{body}\nstderr:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Mtlsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A TCP echo server on loopback, one thread per connection; echoes until EOF, then closes.
pub fn echo_backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
                let _ = s.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// A tiny HTTP/1.1 responder on loopback: answers every request with `hello from backend`.
pub fn http_backend() -> SocketAddr {
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
                let body = "hello from backend\n";
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// Connects, sends `msg`, half-closes, and reads the whole reply.
pub fn roundtrip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(msg).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// Server-mode config text for one listener named `api` targeting `target`.
pub fn server_config(pki: &Pki, target: SocketAddr, acl: &str) -> String {
    format!(
        r#"
[[listener]]
name = "api"
mode = "server"
listen = "127.0.0.1:0"
target = "{target}"

[listener.tls]
cert = "{cert}"
key = "{key}"
ca = "{ca}"

[listener.acl]
{acl}

[listener.proxy]
handshake_timeout = "5s"

[health]
enabled = true
listen = "127.0.0.1:0"

[metrics]
enabled = true
listen = "127.0.0.1:0"

[reload]
debounce = "100ms"
"#,
        cert = pki.path("server.pem").display(),
        key = pki.path("server-key.pem").display(),
        ca = pki.path("ca.pem").display(),
    )
}

/// Client-mode config text: plain TCP on an ephemeral port, mTLS to `server`.
pub fn client_config(pki: &Pki, server: SocketAddr, client: &str) -> String {
    format!(
        r#"
[[listener]]
name = "tunnel"
mode = "client"
listen = "127.0.0.1:0"
target = "{server}"

[listener.tls]
cert = "{cert}"
key = "{key}"
ca = "{ca}"
server_name = "localhost"

[metrics]
enabled = true
listen = "127.0.0.1:0"
"#,
        cert = pki.path(&format!("{client}.pem")).display(),
        key = pki.path(&format!("{client}-key.pem")).display(),
        ca = pki.path("ca.pem").display(),
    )
}

/// A free loopback port (bound, then released: a tiny race, retried by callers).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `openssl s_server` on loopback; killed on drop.
pub struct SServer {
    child: Child,
    pub addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl SServer {
    /// Starts `openssl s_server -accept 127.0.0.1:<free port> <args>` in `dir` and waits for
    /// its `ACCEPT` line.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new("/usr/bin/openssl")
                .arg("s_server")
                .arg("-accept")
                .arg(format!("127.0.0.1:{port}"))
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("openssl s_server");
            let output = Arc::new(Mutex::new(String::new()));
            let (tx, rx) = mpsc::channel();
            for stream in [
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                Box::new(child.stderr.take().unwrap()),
            ] {
                let sink = output.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        sink.lock().unwrap().push_str(&line);
                        sink.lock().unwrap().push('\n');
                        let _ = tx.send(line);
                    }
                });
            }
            drop(tx);
            let mut server = Self {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                output,
            };
            let deadline = Instant::now() + WAIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(line) if line.trim() == "ACCEPT" => return server,
                    Ok(_) => continue,
                    // Both pipes closed: it exited (port taken?); try another port.
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        panic!("s_server did not start; output:\n{}", server.output())
                    }
                }
            }
            let _ = server.child.kill();
        }
        panic!("openssl s_server could not start on a free port");
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 50 ms until it returns true; panics after [`WAIT`].
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// How many connections wait in the accept queue of the IPv4 listening socket `addr`
/// (`/proc/net/tcp`: for a socket in LISTEN state, `rx_queue` is that queue's length).
/// `None` if no such listening socket exists.
pub fn accept_queue(addr: SocketAddr) -> Option<u32> {
    let SocketAddr::V4(v4) = addr else {
        panic!("accept_queue reads /proc/net/tcp: IPv4 only, not {addr}");
    };
    // The kernel prints the address as the in-memory u32 in hex: little-endian octets here.
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx_queue:rx_queue ...; 0A is TCP_LISTEN.
        if fields.get(1) != Some(&local.as_str()) || fields.get(3) != Some(&"0A") {
            return None;
        }
        let (_, rx) = fields.get(4)?.split_once(':')?;
        u32::from_str_radix(rx, 16).ok()
    })
}
