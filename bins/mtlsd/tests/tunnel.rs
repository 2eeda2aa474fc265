//! The server+client chain, bridge mode, and `--check`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use support::*;

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

#[test]
fn client_and_server_chain_carries_bytes_both_ways() {
    let pki = Pki::new();
    let echo = echo_backend();
    let server = Mtlsd::start(
        pki.dir.path(),
        "server.toml",
        &server_config(&pki, echo, "allow_cn = [\"frontend\"]"),
    );
    let client = Mtlsd::start(
        pki.dir.path(),
        "client.toml",
        &client_config(&pki, server.addr("api"), "client"),
    );
    let tunnel = client.addr("tunnel");

    assert_eq!(roundtrip(tunnel, b"hello mtlsd\n"), b"hello mtlsd\n");

    // 50 MiB each way, written and read concurrently, checked by hash.
    const LEN: usize = 50 * 1024 * 1024;
    let data: Vec<u8> = (0..LEN as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let expected = sha256(&data);
    let mut conn = TcpStream::connect_timeout(&tunnel, WAIT).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut writer = conn.try_clone().unwrap();
    let send = std::thread::spawn(move || {
        for chunk in data.chunks(256 * 1024) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::with_capacity(LEN);
    conn.read_to_end(&mut got).unwrap();
    send.join().unwrap();
    assert_eq!(got.len(), LEN);
    assert_eq!(sha256(&got), expected);

    // Both daemons counted the bytes; the server saw an allowed ACL decision.
    let total = (LEN + 12) as f64;
    server.wait_metric(
        "mtlsd_bytes_proxied_total{listener=\"api\",direction=\"upstream_to_client\"}",
        total,
    );
    server.wait_metric(
        "mtlsd_bytes_proxied_total{listener=\"api\",direction=\"client_to_upstream\"}",
        total,
    );
    server.wait_metric(
        "mtlsd_acl_decisions_total{listener=\"api\",result=\"allow\"}",
        2.0,
    );
    assert_eq!(
        server.metric("mtlsd_connections_total{listener=\"api\"}"),
        Some(2.0)
    );
    server.wait_metric(
        "mtlsd_connection_duration_seconds_count{listener=\"api\"}",
        2.0,
    );
    assert_eq!(
        server.metric("mtlsd_active_connections{listener=\"api\"}"),
        Some(0.0)
    );
    let (status, body) = client.get("metrics", "/metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains(
            "mtlsd_tls_handshake_duration_seconds_count{listener=\"tunnel\",side=\"upstream\"} 2"
        ),
        "{body}"
    );
    server.wait_log("peer_cn=\"frontend\"");
}

#[test]
fn bridge_mode_reencrypts_to_an_mtls_upstream() {
    let pki = Pki::new();
    let echo = echo_backend();
    let inner = Mtlsd::start(pki.dir.path(), "inner.toml", &server_config(&pki, echo, ""));
    let bridge_cfg = format!(
        r#"
[[listener]]
name = "bridge"
mode = "bridge"
listen = "127.0.0.1:0"
target = "{inner}"

[listener.tls]
cert = "server.pem"
key = "server-key.pem"
ca = "ca.pem"
min_version = "1.3"

[listener.upstream_tls]
cert = "client.pem"
key = "client-key.pem"
ca = "ca.pem"
server_name = "localhost"

[listener.acl]
allow_uri = ["spiffe://example.test/tenant/*"]
"#,
        inner = inner.addr("api")
    );
    let bridge = Mtlsd::start(pki.dir.path(), "bridge.toml", &bridge_cfg);
    let front = Mtlsd::start(
        pki.dir.path(),
        "front.toml",
        &client_config(&pki, bridge.addr("bridge"), "client"),
    );
    assert_eq!(
        roundtrip(front.addr("tunnel"), b"through the bridge"),
        b"through the bridge"
    );
    inner.wait_metric(
        "mtlsd_acl_decisions_total{listener=\"api\",result=\"allow\"}",
        1.0,
    );
}

fn check(dir: &std::path::Path, config: &str) -> (i32, String) {
    let path = dir.join("check.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_good_and_rejects_bad_input_with_exit_2() {
    let pki = Pki::new();
    let echo = echo_backend();
    let good = server_config(&pki, echo, "");
    assert_eq!(check(pki.dir.path(), &good).0, 0);

    let (code, err) = check(
        pki.dir.path(),
        &good.replace("[listener.proxy]", "[listener.proxy]\ncolour = 1"),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("check.toml") && err.contains("colour"),
        "{err}"
    );

    let (code, err) = check(pki.dir.path(), &good.replace("\"5s\"", "\"5 fortnights\""));
    assert_eq!(code, 2);
    assert!(
        err.contains("listener \"api\": `proxy.handshake_timeout`"),
        "{err}"
    );

    // A key that does not match the certificate.
    pki.write_leaf("other", Leaf::server());
    let mismatched = good.replace("server-key.pem", "other-key.pem");
    let (code, err) = check(pki.dir.path(), &mismatched);
    assert_eq!(code, 2);
    assert!(
        err.contains("does not match certificate") && err.contains("other-key.pem"),
        "{err}"
    );

    // A CA file with no certificates, an unreadable cert, a bad PEM key.
    pki.write("empty-ca.pem", "# no certificates here\n");
    let (code, err) = check(pki.dir.path(), &good.replace("ca.pem", "empty-ca.pem"));
    assert_eq!(code, 2);
    assert!(
        err.contains("empty-ca.pem contains no certificates"),
        "{err}"
    );
    let (code, err) = check(pki.dir.path(), &good.replace("server.pem", "missing.pem"));
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read certificate file") && err.contains("missing.pem"),
        "{err}"
    );
    pki.write(
        "garbage-key.pem",
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    );
    let (code, err) = check(
        pki.dir.path(),
        &good.replace("server-key.pem", "garbage-key.pem"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("garbage-key.pem"), "{err}");
}

#[test]
fn port_in_use_exits_2_naming_the_address() {
    let pki = Pki::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config =
        server_config(&pki, echo_backend(), "").replacen("127.0.0.1:0", &addr.to_string(), 1);
    let path = pki.write("busy.toml", &config);
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("listener \"api\": cannot listen on {addr}")),
        "{err}"
    );
}

#[test]
fn the_config_file_comes_from_mtls_config_and_the_old_name_still_works_with_a_warning() {
    let pki = Pki::new();
    let path = pki.write("env.toml", &server_config(&pki, echo_backend(), ""));
    let run = |vars: &[(&str, &std::path::Path)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtlsd"));
        cmd.arg("--check")
            .env_remove("MTLS_CONFIG")
            .env_remove("MTLSD_CONFIG");
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, out, err) = run(&[("MTLS_CONFIG", &path)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("env.toml is valid"), "{out}");
    assert!(!err.contains("deprecated"), "{err}");

    let (code, out, err) = run(&[("MTLSD_CONFIG", &path)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("env.toml is valid"), "{out}");
    assert!(
        err.contains("MTLSD_CONFIG is deprecated; set MTLS_CONFIG instead"),
        "{err}"
    );

    // Neither: a usage error (exit 2) that names both ways to give the file.
    let (code, _, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--config FILE") && err.contains("MTLS_CONFIG"),
        "{err}"
    );
}
