//! Bad input at the gateway: a deleted tenant, an expired certificate, oversized headers and
//! bodies. Each gets a clean refusal with the right status or alert, and another tenant's
//! traffic is unaffected throughout. Real mtlsd, tenantctl and curl; loopback only.

mod support;

use mtls_ca::{Overwrite, write_private_file, write_public_file};
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
    assert_eq!(get(&expired, &ca, port, "a.localhost", "/").0, 0);
    gw.wait_metric(
        r#"mtlsd_tls_handshake_failures_total{listener="gw",reason="cert_expired"}"#,
        1.0,
    );
    b_still_works();

    // Oversized request headers: refused with 431 (HTTP/1.1), the process carries on.
    let huge = format!("x-big: {}", "a".repeat(100 * 1024));
    // Known race (noted on issue 13): the gateway answers 431 and closes with part of the
    // oversized head still unread, so the kernel may reset the connection before curl reads
    // the answer (000). Up to 3 attempts; the answer, once read, must be the refusal.
    let mut code = String::new();
    for _ in 0..3 {
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
        code = String::from_utf8_lossy(&out.stdout).into_owned();
        if code != "000" {
            break;
        }
    }
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

/// A client certificate of `tenant_id` signed by the data dir's CA whose validity ended
/// yesterday (signed with rcgen from the CA's files: the CA refuses to issue such a thing).
fn expired_bundle(data: &DataDir, tenant_id: &str) -> Bundle {
    let ca_dir = data.root.join("ca");
    let read = |file: &str| std::fs::read_to_string(ca_dir.join(file)).unwrap();
    let root_key = rcgen::KeyPair::from_pem(&read("root-key.pem")).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&read("root.pem"), root_key).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::URI(
        format!("spiffe://gw.test/tenant/{tenant_id}")
            .try_into()
            .unwrap(),
    )];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, tenant_id);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(3);
    params.not_after = now - time::Duration::days(1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let dir = data.tmp.join("expired");
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = Bundle {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    write_public_file(&bundle.cert, cert.pem().as_bytes(), Overwrite::Never).unwrap();
    write_private_file(
        &bundle.key,
        key.serialize_pem().as_bytes(),
        Overwrite::Never,
    )
    .unwrap();
    bundle
}
