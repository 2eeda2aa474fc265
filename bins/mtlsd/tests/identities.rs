//! Several client identities in client mode against a real `openssl s_server`: selection by
//! the CA names it sends (TLS 1.2 and 1.3), the selection metric, `/certz`, hot reload of an
//! identity, `mtlsd probe`, and config errors.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

/// The test PKI plus two client identities, `one` (issued by CA #1, ca1.pem) and `two`
/// (CA #2, ca2.pem); returns CA #2 too, to reissue `two`.
fn pki_with_identities() -> (Pki, Ca) {
    let pki = Pki::new();
    let ca1 = Ca::new("Identity CA One");
    pki.write("ca1.pem", &ca1.pem);
    write_identity(&pki, &ca1, "one", "identity-one-client");
    let ca2 = Ca::new("Identity CA Two");
    pki.write("ca2.pem", &ca2.pem);
    write_identity(&pki, &ca2, "two", "identity-two-client");
    (pki, ca2)
}

fn write_identity(pki: &Pki, ca: &Ca, name: &str, cn: &str) {
    let (cert, key) = ca.issue(Leaf::client(cn));
    pki.write(&format!("{name}.pem"), &cert);
    pki.write(&format!("{name}-key.pem"), &key);
}

/// Client-mode config: two identities, to `server` (name "localhost", trusting ca.pem).
fn two_identity_config(pki: &Pki, server: std::net::SocketAddr, extra_tls: &str) -> String {
    format!(
        r#"
[[listener]]
name = "tunnel"
mode = "client"
listen = "127.0.0.1:0"
target = "{server}"

[listener.tls]
ca = "{ca}"
server_name = "localhost"
{extra_tls}

[[listener.tls.identities]]
name = "one"
cert = "{dir}/one.pem"
key = "{dir}/one-key.pem"

[[listener.tls.identities]]
name = "two"
cert = "{dir}/two.pem"
key = "{dir}/two-key.pem"

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
        ca = pki.path("ca.pem").display(),
        dir = pki.dir.path().display(),
    )
}

/// `openssl s_server -Verify 1 -verify_return_error -CAfile ca2.pem -www` (+ `version`).
fn s_server_requiring_ca2(dir: &Path, version: &str) -> SServer {
    SServer::start(
        dir,
        &[
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            "ca2.pem",
            "-cert",
            "server.pem",
            "-key",
            "server-key.pem",
            "-www",
            version,
        ],
    )
}

/// GET / through the tunnel; the s_server status page (it describes the client certificate).
fn page(mtlsd: &Mtlsd) -> String {
    String::from_utf8_lossy(&roundtrip(mtlsd.addr("tunnel"), b"GET / HTTP/1.0\r\n\r\n"))
        .into_owned()
}

const TWO_MATCHED: &str = "mtlsd_client_identity_selections_total{listener=\"tunnel\",identity=\"two\",reason=\"matched_ca_name\"}";

fn the_server_gets_identity_two(version: &str) {
    let (pki, _) = pki_with_identities();
    let server = s_server_requiring_ca2(pki.dir.path(), version);
    let mtlsd = Mtlsd::start(
        pki.dir.path(),
        "client.toml",
        &two_identity_config(&pki, server.addr, ""),
    );
    let page = page(&mtlsd);
    assert!(
        page.contains("identity-two-client"),
        "page:\n{page}\ns_server:\n{}",
        server.output()
    );
    assert!(!page.contains("identity-one-client"), "{page}");
    mtlsd.wait_metric(TWO_MATCHED, 1.0);
    assert_eq!(
        mtlsd.metric("mtlsd_client_identity_selections_total{listener=\"tunnel\",identity=\"one\",reason=\"matched_ca_name\"}"),
        None
    );
    mtlsd.wait_log("client identity selected");
    assert!(
        mtlsd.stderr().contains("ca_names_offered=1"),
        "{}",
        mtlsd.stderr()
    );
}

#[test]
fn tls13_server_naming_ca2_gets_identity_two() {
    the_server_gets_identity_two("-tls1_3");
}

#[test]
fn tls12_server_naming_ca2_gets_identity_two() {
    the_server_gets_identity_two("-tls1_2");
}

fn run_probe(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("probe")
        .args(args)
        .arg("--timeout")
        .arg("10s")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The probe bounds itself (10 s plus a 1 s verdict wait); this is a backstop.
    let deadline = std::time::Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("mtlsd probe did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn probe_shows_the_ca_names_and_the_identity_that_would_be_chosen() {
    let (pki, _) = pki_with_identities();
    let server = s_server_requiring_ca2(pki.dir.path(), "-tls1_3");
    let config = pki.write("client.toml", &two_identity_config(&pki, server.addr, ""));
    let target = server.addr.to_string();
    let cfg = config.to_str().unwrap();

    let out = run_probe(&[&target, "--config", cfg, "--listener", "tunnel"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TLS version: TLS 1.3"), "{stdout}");
    assert!(stdout.contains("subject: CN=localhost"), "{stdout}");
    assert!(stdout.contains("issuer:  CN=mtlsd test CA"), "{stdout}");
    assert!(stdout.contains("CN=Identity CA Two  -> two"), "{stdout}");
    assert!(stdout.contains("signature schemes: "), "{stdout}");
    assert!(stdout.contains("chosen: two (matched_ca_name)"), "{stdout}");
    assert!(stdout.contains("result: handshake completed"), "{stdout}");

    // JSON, without --listener (the config has one outbound listener).
    let out = run_probe(&[&target, "--config", cfg, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["selection"]["identity"], "two", "{v}");
    assert_eq!(v["selection"]["reason"], "matched_ca_name", "{v}");
    assert_eq!(
        v["certificate_request"]["ca_names"][0], "CN=Identity CA Two",
        "{v}"
    );
    assert_eq!(v["client_certificate_requested"], true);
    assert_eq!(v["handshake"]["completed"], true);

    // Without a config: the CA names, and a hint that no identities were given. Sending no
    // certificate, the TLS 1.3 handshake is then rejected by the server: exit 1.
    let ca = pki.path("ca.pem");
    let out = run_probe(&[&target, "--ca", ca.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("    CN=Identity CA Two"), "{stdout}");
    assert!(stdout.contains("no identities configured"), "{stdout}");
    assert!(stdout.contains("handshake FAILED"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("handshake with"));
}

#[test]
fn probe_says_when_no_client_certificate_is_requested() {
    let (pki, _) = pki_with_identities();
    let server = SServer::start(
        pki.dir.path(),
        &[
            "-cert",
            "server.pem",
            "-key",
            "server-key.pem",
            "-www",
            "-tls1_2",
        ],
    );
    let config = pki.write("client.toml", &two_identity_config(&pki, server.addr, ""));
    let out = run_probe(&[
        &server.addr.to_string(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("TLS version: TLS 1.2"), "{stdout}");
    assert!(
        stdout.contains("client certificate: the server did not request one"),
        "{stdout}"
    );

    // Nothing listening: a clear error and exit 1.
    let closed = format!("127.0.0.1:{}", free_port());
    let out = run_probe(&[&closed, "--insecure-skip-verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("WARNING: --insecure-skip-verify"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot connect to {closed}")),
        "{stderr}"
    );
}

#[test]
fn a_reissued_identity_is_used_by_new_connections() {
    let (pki, ca2) = pki_with_identities();
    let server = s_server_requiring_ca2(pki.dir.path(), "-tls1_3");
    let mtlsd = Mtlsd::start(
        pki.dir.path(),
        "client.toml",
        &two_identity_config(&pki, server.addr, "fallback = \"one\""),
    );
    assert!(page(&mtlsd).contains("identity-two-client"));

    // /certz lists both identities; each has an expiry gauge.
    let (_, certz) = mtlsd.get("health+metrics", "/certz");
    let v: serde_json::Value = serde_json::from_str(&certz).unwrap();
    let certs = v["certificates"].as_array().unwrap();
    let names: Vec<&str> = certs
        .iter()
        .map(|c| c["identity"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "two"], "{certz}");
    assert_eq!(
        certs[1]["subject"], "CN=identity-two-client, O=Acme",
        "{certz}"
    );
    assert!(
        matches!(certs[1]["days_left"].as_i64(), Some(29 | 30)),
        "{certz}"
    );
    let old_serial = certs[1]["serial"].as_str().unwrap().to_owned();
    assert!(
        mtlsd
            .metric("mtlsd_client_identity_expiry_seconds{listener=\"tunnel\",identity=\"two\"}")
            .is_some_and(|s| s > 28.0 * 86_400.0)
    );

    // Reissue identity two (same CA, new key and CN).
    write_identity(&pki, &ca2, "two", "identity-two-rotated");
    wait_for("the reissued identity in /certz", || {
        let (_, certz) = mtlsd.get("health+metrics", "/certz");
        certz.contains("identity-two-rotated")
    });
    let body = page(&mtlsd);
    assert!(body.contains("identity-two-rotated"), "{body}");

    // A broken file is refused; the reissued identity keeps serving.
    pki.write("two.pem", "not a certificate\n");
    mtlsd.wait_metric(
        "mtlsd_cert_reloads_total{listener=\"tunnel\",result=\"failure\"}",
        1.0,
    );
    mtlsd.wait_log("certificate reload rejected");
    assert!(
        mtlsd
            .stderr()
            .contains("cannot load client identity \"two\"")
    );
    assert!(page(&mtlsd).contains("identity-two-rotated"));
    let (_, certz) = mtlsd.get("health+metrics", "/certz");
    assert!(!certz.contains(&old_serial), "{certz}");
    // Two full handshakes chose `two` (before and after the reissue); the third connection
    // resumed the second one's TLS 1.3 session, so the server asked for no certificate.
    mtlsd.wait_metric(TWO_MATCHED, 2.0);
}

fn check(pki: &Pki, config: &str) -> (i32, String) {
    let path = pki.write("check.toml", config);
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
fn config_errors_name_the_listener_the_field_and_the_file() {
    let (pki, _) = pki_with_identities();
    let good = two_identity_config(&pki, "127.0.0.1:1".parse().unwrap(), "");
    let (code, _) = check(&pki, &good);
    assert_eq!(code, 0);

    let both = good.replace(
        "server_name = \"localhost\"",
        "server_name = \"localhost\"\ncert = \"c.pem\"\nkey = \"k.pem\"",
    );
    let (code, err) = check(&pki, &both);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("check.toml"), "{err}");
    assert!(
        err.contains("listener \"tunnel\": `tls.identities`: cannot be combined"),
        "{err}"
    );

    let dup = good.replace("name = \"two\"", "name = \"one\"");
    let (code, err) = check(&pki, &dup);
    assert_eq!(code, 2);
    assert!(
        err.contains("`tls.identities[1].name`: \"one\" is already used"),
        "{err}"
    );

    let (code, err) = check(
        &pki,
        &two_identity_config(&pki, "127.0.0.1:1".parse().unwrap(), "fallback = \"three\""),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("`tls.fallback`: \"three\" is not one of the identities (one, two)"),
        "{err}"
    );

    std::fs::remove_file(pki.path("two-key.pem")).unwrap();
    let (code, err) = check(&pki, &good);
    assert_eq!(code, 2);
    assert!(err.contains("listener \"tunnel\""), "{err}");
    assert!(err.contains("identity \"two\""), "{err}");
    assert!(err.contains("two-key.pem"), "{err}");
}
