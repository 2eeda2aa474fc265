//! Bad input at the gateway: a deleted tenant, an expired certificate, oversized headers and
//! bodies. Each gets a clean refusal with the right status or alert, and another tenant's
//! traffic is unaffected throughout. Real mtlsd, tenantctl and curl; loopback only.

mod support;

use std::time::Duration;

use mtls_ca::{
    CertificateAuthority, ClientCertRequest, Overwrite, write_private_file, write_public_file,
};
use mtls_identity::{TenantId, TrustDomain};
use mtls_registry::Store;
use mtls_route_spec::RouteSpec;
use support::Mtlsd;
use support::tenants::{Bundle, DataDir, actor, curl, get, http_route, named_backend, tenant};

#[test]
fn bad_clients_are_refused_cleanly_and_others_are_unaffected() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let b = data.tenant("b");
    let gone = data.tenant("gone");
    let store = data.store();
    let upstream = named_backend("up");
    let mut small_bodies = http_route("a.localhost", upstream);
    if let RouteSpec::Http(route) = &mut small_bodies {
        route.max_body_bytes = Some(1024);
    }
    store
        .add_route(&actor(), &tenant("a"), small_bodies)
        .unwrap();
    store
        .add_route(&actor(), &tenant("b"), http_route("b.localhost", upstream))
        .unwrap();
    store
        .add_route(
            &actor(),
            &tenant("gone"),
            http_route("gone.localhost", upstream),
        )
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();
    let b_still_works = || {
        assert_eq!(
            get(&b, &ca, port, "b.localhost", "/"),
            (200, "up for b\n".to_owned())
        );
    };
    assert_eq!(get(&gone, &ca, port, "gone.localhost", "/").0, 200);

    // A deleted tenant: its certificate still chains to our CA, but the registry no longer
    // knows the tenant, so the connection is refused after the handshake.
    store.delete_tenant(&actor(), &tenant("gone")).unwrap();
    support::wait_for("deleted tenant refused", || {
        get(&gone, &ca, port, "gone.localhost", "/").0 == 0
    });
    gw.wait_metric(
        r#"mtlsd_tenant_refusals_total{listener="gw",reason="unknown_tenant"}"#,
        1.0,
    );
    b_still_works();

    // An expired certificate of an active tenant fails the handshake with a certificate alert.
    let expired = expired_bundle(&data, "a");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get(&expired, &ca, port, "a.localhost", "/").0, 0);
    gw.wait_metric(
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="cert_expired"}"#,
        1.0,
    );
    b_still_works();

    // Oversized request headers: refused with 431 (HTTP/1.1), the process carries on.
    let huge = format!("x-big: {}", "a".repeat(100 * 1024));
    let out = curl(
        &a,
        &ca,
        &[
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Host: a.localhost",
            "-H",
            &huge,
            &format!("https://localhost:{port}/"),
        ],
    );
    let code = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        code == "431" || code == "400",
        "oversized headers got {code}"
    );
    b_still_works();

    // A body over the route's limit: 413 with a JSON reason; a small one passes.
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![b'x'; 4096]).unwrap();
    let post = |file: &std::path::Path| {
        let data_arg = format!("@{}", file.display());
        let out = curl(
            &a,
            &ca,
            &[
                // HTTP/1.1 with curl's `Expect: 100-continue`: the gateway answers 413 from
                // Content-Length before the body is sent, so the answer is never lost to a
                // reset of a half-sent upload.
                "--http1.1",
                "-H",
                "Host: a.localhost",
                "--data-binary",
                &data_arg,
                "-w",
                "\n%{http_code}",
                &format!("https://localhost:{port}/upload"),
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = post(&big);
    assert!(refused.ends_with("413"), "{refused}");
    assert!(refused.contains(r#""error":"body_too_large""#), "{refused}");
    let small = tmp.path().join("small.bin");
    std::fs::write(&small, vec![b'x'; 100]).unwrap();
    assert!(post(&small).ends_with("200"));
    b_still_works();

    // Nothing crashed: the process is still healthy.
    assert_eq!(gw.get("health+metrics", "/healthz").0, 200);
}

/// A certificate for `tenant` from the data dir's own CA that expires one second after issue.
fn expired_bundle(data: &DataDir, tenant_id: &str) -> Bundle {
    let ca = CertificateAuthority::load(&data.root.join("ca")).unwrap();
    let mut req = ClientCertRequest::new(
        TrustDomain::try_new("gw.test").unwrap(),
        TenantId::try_new(tenant_id).unwrap(),
        tenant_id,
    );
    req.validity = Duration::from_secs(1);
    let issued = ca.issue_client(&req).unwrap();
    let dir = data.tmp.join("expired");
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = Bundle {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    write_public_file(&bundle.cert, issued.chain_pem.as_bytes(), Overwrite::Never).unwrap();
    write_private_file(
        &bundle.key,
        issued.key_pem.as_ref().unwrap().as_bytes(),
        Overwrite::Never,
    )
    .unwrap();
    bundle
}
