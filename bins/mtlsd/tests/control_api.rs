//! The real `mtlsd` with a `[control]` section (and no listener): an admin call and an
//! enrollment with curl, the enrolled certificate used at once, `--check`, and SIGTERM.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mtls_ca::{AdminCertRequest, CertificateAuthority};
use mtls_identity::AdminName;
use mtls_registry::{CertificateKind, NewCertificate, Store};
use serde_json::{Value, json};
use support::Mtlsd;
use support::tenants::{DataDir, actor, get, named_backend};

/// curl against the control API: (HTTP status, JSON body).
fn curl(ca: &Path, identity: Option<(&Path, &Path)>, args: &[&str]) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert"]).arg(ca);
    if let Some((cert, key)) = identity {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = cmd
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// An admin certificate for `alice`, recorded in the registry; (cert, key) files.
fn record_admin(data: &DataDir, dir: &Path) -> (PathBuf, PathBuf) {
    let store = data.store();
    let ca = CertificateAuthority::load(&data.root.join("ca")).unwrap();
    let domain = store.trust_domain().unwrap();
    let (cert, key) = (dir.join("admin.pem"), dir.join("admin-key.pem"));
    store
        .record_admin_certificate(
            &actor(),
            &AdminName::try_new("alice").unwrap(),
            &mut |name| {
                let issued =
                    ca.issue_admin(&AdminCertRequest::new(domain.clone(), name.clone()))?;
                std::fs::write(&cert, &issued.chain_pem)?;
                std::fs::write(&key, issued.key_pem.as_ref().unwrap().as_str())?;
                Ok(NewCertificate {
                    serial: issued.serial.clone(),
                    fingerprint: issued.fingerprint,
                    not_before: issued.not_before,
                    not_after: issued.not_after,
                    kind: CertificateKind::Client,
                })
            },
        )
        .unwrap();
    (cert, key)
}

#[test]
fn a_control_only_daemon_serves_admins_and_enrollment_over_mtls() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    data.ctl(&["tenant", "create", "acme", "--name", "ACME Corp"]);

    let (admin_cert, admin_key) = record_admin(&data, tmp.path());

    let config = format!(
        "data_dir = {:?}\n\n[control]\nlisten = \"127.0.0.1:0\"\n",
        data.root.display().to_string()
    );
    std::fs::write(tmp.path().join("check.toml"), &config).unwrap();
    // `--check` reads the registry without writing it: same bytes, same mode afterwards.
    let registry = data.root.join("registry.db");
    let file_state = || {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&registry).unwrap();
        (
            std::fs::read(&registry).unwrap(),
            meta.permissions().mode(),
            meta.modified().unwrap(),
        )
    };
    let before = file_state();
    let check = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--config")
        .arg(tmp.path().join("check.toml"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "--check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        before == file_state(),
        "mtlsd --check changed the registry file"
    );

    let mut mtlsd = Mtlsd::start(tmp.path(), "mtlsd.toml", &config);
    let port = mtlsd.addr("control").port();
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let ca_pem = data.ca();

    // No certificate: 401.
    let (status, body) = curl(&ca_pem, None, &[&url("/v1/tenants")]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");

    // The admin makes an enrollment token.
    let (status, body) = curl(
        &ca_pem,
        Some((&admin_cert, &admin_key)),
        &[
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"ttl_seconds":600}"#,
            &url("/v1/tenants/acme/tokens"),
        ],
    );
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();

    // The tenant makes a key and a CSR with openssl and enrolls with curl -d.
    let key = tmp.path().join("acme-key.pem");
    let csr = tmp.path().join("acme.csr");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=whoever",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request =
        json!({"token": token, "csr": std::fs::read_to_string(&csr).unwrap()}).to_string();
    let (status, body) = curl(
        &ca_pem,
        None,
        &[
            "-H",
            "content-type: application/json",
            "-d",
            &request,
            &url("/v1/enroll"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], "acme");
    let cert = tmp.path().join("acme.pem");
    std::fs::write(&cert, body["cert"].as_str().unwrap()).unwrap();

    // The new certificate is a tenant caller at once.
    let (status, body) = curl(&ca_pem, Some((&cert, &key)), &[&url("/v1/whoami")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "tenant");
    assert_eq!(body["name"], "acme");
    let (status, body) = curl(&ca_pem, Some((&cert, &key)), &[&url("/v1/tenants")]);
    assert_eq!(status, 403, "{body}");

    // The registry recorded who did it.
    let events = data.store().audit_events(&Default::default()).unwrap();
    let redeem = events.iter().find(|e| e.action == "token.redeem").unwrap();
    assert!(
        redeem.actor.starts_with("api:anonymous from 127.0.0.1:"),
        "{}",
        redeem.actor
    );
    let token_event = events.iter().find(|e| e.action == "token.create").unwrap();
    assert!(
        token_event
            .actor
            .starts_with("api:admin/alice from 127.0.0.1:"),
        "{}",
        token_event.actor
    );

    mtlsd.signal("TERM");
    assert_eq!(mtlsd.wait_exit(), 0, "stderr:\n{}", mtlsd.stderr());
}

#[test]
fn a_route_a_tenant_adds_through_the_api_is_served_by_the_gateway_of_the_same_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let acme = data.tenant("acme");
    let (admin_cert, admin_key) = record_admin(&data, tmp.path());
    let backend = named_backend("acme-app");
    let config = format!("{}\n[control]\nlisten = \"127.0.0.1:0\"\n", data.config(""));
    let mut mtlsd = Mtlsd::start(tmp.path(), "mtlsd.toml", &config);
    let control = mtlsd.addr("control").port();
    let gateway = mtlsd.addr("gw").port();
    let url = |path: &str| format!("https://localhost:{control}{path}");
    let ca = data.ca();

    // The admin lets acme reach private addresses (the backend is on loopback) ...
    let (status, body) = curl(
        &ca,
        Some((&admin_cert, &admin_key)),
        &[
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"allow_private":true}"#,
            &url("/v1/tenants/acme/limits"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    // ... and acme adds its own route with its gateway certificate.
    let spec = json!({"kind": "http", "host": "app.localhost", "upstreams": [format!("http://{backend}")], "allow_private": true});
    let (status, body) = curl(
        &ca,
        Some((&acme.cert, &acme.key)),
        &[
            "-H",
            "content-type: application/json",
            "-d",
            &spec.to_string(),
            &url("/v1/tenants/acme/routes"),
        ],
    );
    assert_eq!(status, 201, "{body}");
    let version = data.store().version().unwrap();
    mtlsd.wait_registry_version("gw", version);
    assert_eq!(
        get(&acme, &ca, gateway, "app.localhost", "/"),
        (200, "acme-app for acme\n".into())
    );

    mtlsd.signal("TERM");
    assert_eq!(mtlsd.wait_exit(), 0, "stderr:\n{}", mtlsd.stderr());
}
