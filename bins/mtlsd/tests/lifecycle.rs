//! Hot reload (file swap, SIGHUP, broken files), health endpoints, and SIGTERM drain.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A connection through the tunnel that stays open; `echo` checks it still works.
struct Open(TcpStream);

impl Open {
    fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut me = Self(s);
        me.echo(b"first");
        me
    }

    fn echo(&mut self, msg: &[u8]) {
        self.0.write_all(msg).unwrap();
        let mut got = vec![0u8; msg.len()];
        self.0.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
    }
}

fn serial_of(path: &std::path::Path) -> String {
    let out = Command::new("/usr/bin/openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().trim_start_matches("serial=").to_lowercase()
}

/// The serial of the certificate a fresh handshake with `addr` sees.
fn served_serial(addr: SocketAddr, pki: &Pki) -> String {
    let out = Command::new("/usr/bin/openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .arg("-cert")
        .arg(pki.path("client.pem"))
        .arg("-key")
        .arg(pki.path("client-key.pem"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("no certificate in s_client output");
    let end = text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    let pem = pki.write("served.pem", &format!("{}\n", &text[start..end]));
    serial_of(&pem)
}

fn certz_serial(server: &Mtlsd) -> String {
    let (status, body) = server.get("health+metrics", "/certz");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["certificates"][0]["serial"].as_str().unwrap().to_owned()
}

/// Atomically replaces `dest` with `contents` (write + rename, like editors and kubelet).
fn swap(pki: &Pki, dest: &str, contents: &str) {
    let tmp = pki.write(&format!(".{dest}.tmp"), contents);
    std::fs::rename(tmp, pki.path(dest)).unwrap();
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {what}");
}

const RELOAD_OK: &str = "mtlsd_cert_reloads_total{listener=\"api\",result=\"success\"}";
const RELOAD_FAIL: &str = "mtlsd_cert_reloads_total{listener=\"api\",result=\"failure\"}";

#[test]
fn file_swap_reloads_new_handshakes_and_keeps_open_connections() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let server = Mtlsd::start(d, "server.toml", &server_config(&pki, echo_backend(), ""));
    let client = Mtlsd::start(
        d,
        "client.toml",
        &client_config(&pki, server.addr("api"), "client"),
    );
    let api = server.addr("api");

    // /healthz, /readyz and /certz before any change.
    assert_eq!(
        server.get("health+metrics", "/healthz"),
        (200, "{\"status\":\"alive\"}".into())
    );
    assert_eq!(server.get("health+metrics", "/readyz").0, 200);
    let old_serial = serial_of(&pki.path("server.pem"));
    assert_eq!(certz_serial(&server), old_serial);
    let (_, certz) = server.get("health+metrics", "/certz");
    let v: serde_json::Value = serde_json::from_str(&certz).unwrap();
    let c = &v["certificates"][0];
    assert_eq!(c["listener"], "api");
    assert_eq!(c["side"], "inbound");
    assert_eq!(c["subject"], "CN=localhost");
    assert!(matches!(c["days_left"].as_i64(), Some(29 | 30)), "{certz}");
    assert!(c["not_after"].as_str().unwrap().ends_with('Z'), "{certz}");
    let expiry = server
        .metric("mtlsd_cert_expiry_seconds{listener=\"api\",side=\"inbound\"}")
        .unwrap();
    assert!(
        (29.0 * 86400.0..=30.0 * 86400.0).contains(&expiry),
        "{expiry}"
    );
    assert_eq!(served_serial(api, &pki), old_serial);

    let mut open = Open::connect(client.addr("tunnel"));

    // Rotate: new key and certificate, each renamed into place.
    let (cert, key) = pki.ca.issue(Leaf::server());
    swap(&pki, "server-key.pem", &key);
    swap(&pki, "server.pem", &cert);
    let new_serial = serial_of(&pki.path("server.pem"));
    assert_ne!(new_serial, old_serial);
    wait_until("the new certificate in /certz", || {
        certz_serial(&server) == new_serial
    });
    server.wait_metric(RELOAD_OK, 1.0);
    assert_eq!(served_serial(api, &pki), new_serial);
    open.echo(b"still here after the rotation");
    assert_eq!(
        roundtrip(client.addr("tunnel"), b"new connection"),
        b"new connection"
    );

    // A broken file is refused; the previous material keeps serving.
    let failures = server.metric(RELOAD_FAIL).unwrap_or(0.0);
    swap(
        &pki,
        "server.pem",
        "-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n",
    );
    server.wait_metric(RELOAD_FAIL, failures + 1.0);
    server.wait_log("certificate reload rejected");
    assert_eq!(certz_serial(&server), new_serial);
    assert_eq!(served_serial(api, &pki), new_serial);
    open.echo(b"and after a bad file");
    assert_eq!(
        roundtrip(client.addr("tunnel"), b"still serving"),
        b"still serving"
    );
}

#[test]
fn sighup_reloads_and_mismatched_key_is_rejected() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let config =
        server_config(&pki, echo_backend(), "").replace("debounce = \"100ms\"", "watch = false");
    let server = Mtlsd::start(d, "server.toml", &config);
    let client = Mtlsd::start(
        d,
        "client.toml",
        &client_config(&pki, server.addr("api"), "client"),
    );
    let mut open = Open::connect(client.addr("tunnel"));
    let old_serial = certz_serial(&server);

    // A key that does not match: SIGHUP reload is rejected.
    let (_, stray_key) = pki.ca.issue(Leaf::server());
    let good_key = std::fs::read_to_string(pki.path("server-key.pem")).unwrap();
    std::fs::write(pki.path("server-key.pem"), &stray_key).unwrap();
    server.signal("HUP");
    server.wait_metric(RELOAD_FAIL, 1.0);
    server.wait_log("does not match certificate");
    assert_eq!(certz_serial(&server), old_serial);
    std::fs::write(pki.path("server-key.pem"), good_key).unwrap();

    // A proper rotation, picked up only on SIGHUP (watching is off).
    let (cert, key) = pki.ca.issue(Leaf::server());
    std::fs::write(pki.path("server-key.pem"), key).unwrap();
    std::fs::write(pki.path("server.pem"), cert).unwrap();
    // No watcher exists, so nothing can pick the new files up before the SIGHUP.
    server.wait_log("certificate files are not watched");
    assert_eq!(certz_serial(&server), old_serial, "reloaded without SIGHUP");
    server.signal("HUP");
    server.wait_metric(RELOAD_OK, 1.0);
    assert_eq!(certz_serial(&server), serial_of(&pki.path("server.pem")));
    open.echo(b"open across SIGHUP");
    assert_eq!(
        roundtrip(client.addr("tunnel"), b"after SIGHUP"),
        b"after SIGHUP"
    );
}

#[test]
fn sigterm_drains_open_connections_then_exits_0() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let config =
        server_config(&pki, echo_backend(), "") + "\n[shutdown]\ndrain_timeout = \"15s\"\n";
    let mut server = Mtlsd::start(d, "server.toml", &config);
    let client = Mtlsd::start(
        d,
        "client.toml",
        &client_config(&pki, server.addr("api"), "client"),
    );
    let api = server.addr("api");
    let mut open = Open::connect(client.addr("tunnel"));

    server.signal("TERM");
    server.wait_log("stopping: no new connections");
    // Not ready while draining; new TCP connections are refused; the open one still works.
    wait_until("/readyz to report the drain", || {
        server.get("health+metrics", "/readyz").0 == 503
    });
    wait_until("the listener to close", || {
        TcpStream::connect_timeout(&api, WAIT).is_err()
    });
    open.echo(b"draining but alive");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited before the drain finished"
    );

    drop(open);
    assert_eq!(server.wait_exit(), 0);
    assert!(server.stderr().contains("mtlsd stopped"));
}

#[test]
fn drain_deadline_closes_what_is_left_and_exits_0() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let config =
        server_config(&pki, echo_backend(), "") + "\n[shutdown]\ndrain_timeout = \"500ms\"\n";
    let mut server = Mtlsd::start(d, "server.toml", &config);
    let client = Mtlsd::start(
        d,
        "client.toml",
        &client_config(&pki, server.addr("api"), "client"),
    );
    let _open = Open::connect(client.addr("tunnel"));
    let started = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        server.stderr().contains("drain deadline passed"),
        "{}",
        server.stderr()
    );
}
