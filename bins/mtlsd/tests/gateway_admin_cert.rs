//! An admin certificate on the gateway listener is refused: admins are not tenants. The
//! certificate is issued by the data dir's own CA (`CertificateAuthority::issue_admin`) and
//! recorded in the registry as the control plane would, so it passes the TLS handshake; the
//! gateway then refuses the connection after the handshake, counts it under
//! `reason="admin_certificate"` and logs a line naming the admin. A tenant's certificate on
//! the same listener keeps working.

mod support;

use mtls_ca::{AdminCertRequest, CertificateAuthority, IssuedCertificate};
use mtls_identity::AdminName;
use mtls_registry::{CertificateKind, NewCertificate, Store};
use support::Mtlsd;
use support::tenants::{Bundle, DataDir, actor, get, http_route, named_backend, tenant};

/// Issues admin `name`'s certificate with the data dir's CA, records it in the registry and
/// writes it to `<tmp>/<name>/{cert,key}.pem`.
fn admin_bundle(data: &DataDir, name: &str) -> Bundle {
    let ca = CertificateAuthority::load(&data.root.join("ca")).unwrap();
    let admin: AdminName = name.parse().unwrap();
    let domain = data.store().trust_domain().unwrap();
    let mut issued: Option<IssuedCertificate> = None;
    let record = data
        .store()
        .record_admin_certificate(&actor(), &admin, &mut |admin| {
            let cert = ca.issue_admin(&AdminCertRequest::new(domain.clone(), admin.clone()))?;
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
    let cert = issued.unwrap();
    assert_eq!(record.serial, cert.serial);
    let dir = data.tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = Bundle {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&bundle.cert, &cert.chain_pem).unwrap();
    std::fs::write(&bundle.key, cert.key_pem.as_deref().unwrap()).unwrap();
    bundle
}

#[test]
fn an_admin_certificate_is_refused_on_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let backend = named_backend("up");
    data.store()
        .add_route(&actor(), &tenant("a"), http_route("a.test", backend))
        .unwrap();
    let alice = admin_bundle(&data, "alice");

    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();
    let refusals = r#"mtlsd_tenant_refusals_total{listener="gw",reason="admin_certificate"}"#;
    // Exported at 0 from the start, like every refusal reason.
    gw.wait_metric_eq(refusals, 0.0);

    // The handshake succeeds (our CA issued it), then the gateway closes the connection
    // without an HTTP answer, as for any certificate that names no tenant.
    let out = support::tenants::curl(
        &alice,
        &ca,
        &[
            "--http1.1",
            "-H",
            "Host: a.test",
            &format!("https://localhost:{port}/"),
        ],
    );
    // The TLS session was up and no HTTP answer came: curl's exit 52 "Empty reply from
    // server", or 56 "Connection reset by peer" when the close finds curl's request unread
    // in the gateway's socket (the kernel then resets). Never an HTTP status.
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(52) => assert!(stderr.contains("Empty reply from server"), "curl: {stderr}"),
        Some(56) => assert!(
            stderr.contains("Connection reset by peer"),
            "curl: {stderr}"
        ),
        other => panic!("curl exit {other:?}, expected 52 or 56: {stderr}"),
    }
    assert!(
        out.stdout.is_empty(),
        "the gateway answered an admin: {:?}",
        out.stdout
    );
    gw.wait_metric_eq(refusals, 1.0);
    gw.wait_log(r#"reason="admin_certificate""#);
    gw.wait_log("the certificate is admin alice's (spiffe://gw.test/admin/alice");
    gw.wait_log("admins are not tenants");
    let log = gw.stderr();
    assert!(
        !log.lines()
            .any(|l| l.contains("access") && l.contains("host=a.test")),
        "an admin request was routed:\n{log}"
    );

    // A tenant on the same listener is served.
    assert_eq!(
        get(&a, &ca, port, "a.test", "/"),
        (200, "up for a\n".to_owned())
    );
    gw.wait_metric_eq(refusals, 1.0);
}
