//! tenantctl's certificates, CSRs, CRLs and PKCS#12 bundles, judged by the openssl CLI.

mod support;

use support::{Openssl, initialised, issue, mode, openssl_serial, tenantctl};

#[test]
fn init_writes_a_safe_layout_and_refuses_to_overwrite() {
    let t = tenantctl();
    let out = t.json(&["init", "--trust-domain", "example.test"]);
    assert_eq!(out["trust_domain"], "example.test");
    let data = t.data_dir();
    assert_eq!(mode(data), 0o700);
    assert_eq!(mode(&data.join("ca/root-key.pem")), 0o600);
    assert_eq!(mode(&data.join("server/key.pem")), 0o600);
    assert_eq!(mode(&data.join("registry.db")), 0o600);

    // The server certificate is for localhost and 127.0.0.1, with serverAuth.
    let text = Openssl.ok(data, &["x509", "-in", "server/cert.pem", "-noout", "-text"]);
    assert!(text.contains("DNS:localhost"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    Openssl.ok(data, &["verify", "-CAfile", "ca.pem", "server/cert.pem"]);

    // A second init must not touch the CA.
    let before = std::fs::read(data.join("ca/root-key.pem")).unwrap();
    t.fails(
        &["init", "--trust-domain", "example.test"],
        "already initialised",
    );
    assert_eq!(std::fs::read(data.join("ca/root-key.pem")).unwrap(), before);

    // --force replaces the CA but keeps the registry; another trust domain is refused.
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.fails(
        &["init", "--trust-domain", "other.test", "--force"],
        "trust domain",
    );
    t.ok(&["init", "--trust-domain", "example.test", "--force"]);
    assert_ne!(std::fs::read(data.join("ca/root-key.pem")).unwrap(), before);
    t.ok(&["tenant", "show", "acme"]);
}

fn check_client_bundle(intermediate: bool) {
    let t = initialised(intermediate);
    t.ok(&["tenant", "create", "acme", "--name", "Acme Corp"]);
    std::fs::write(t.work().join("p12pass"), "s3cret-pass\n").unwrap();
    let out = t.json(&[
        "cert",
        "issue",
        "acme",
        "--out",
        "acme",
        "--p12-password-file",
        "p12pass",
        "--days",
        "10",
    ]);
    let serial = out["serial"].as_str().unwrap().to_owned();
    let dir = t.work().join("acme");
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    assert_eq!(mode(&dir.join("bundle.p12")), 0o600);

    // cert.pem holds the leaf and, with an intermediate, the chain.
    let verify = Openssl.ok(
        &dir,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "cert.pem",
            "cert.pem",
        ],
    );
    assert!(verify.contains("cert.pem: OK"), "{verify}");
    let text = Openssl.ok(&dir, &["x509", "-in", "cert.pem", "-noout", "-text"]);
    assert!(
        text.contains("URI:spiffe://example.test/tenant/acme"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        text.contains("CN=acme") || text.contains("CN = acme"),
        "{text}"
    );
    assert!(
        text.contains("O=Acme Corp") || text.contains("O = Acme Corp"),
        "{text}"
    );
    let issuer = Openssl.ok(&dir, &["x509", "-in", "cert.pem", "-noout", "-issuer"]);
    assert_eq!(issuer.contains("issuing CA"), intermediate, "{issuer}");
    let serial_line = Openssl.ok(&dir, &["x509", "-in", "cert.pem", "-noout", "-serial"]);
    assert!(
        serial_line.contains(&openssl_serial(&serial)),
        "{serial_line} vs {serial}"
    );
    // The key in key.pem belongs to the certificate.
    let cert_pub = Openssl.ok(&dir, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]);
    let key_pub = Openssl.ok(&dir, &["pkey", "-in", "key.pem", "-pubout"]);
    assert_eq!(cert_pub, key_pub);

    // PKCS#12 opens with the password (OpenSSL 3 defaults, no -legacy) and holds the cert.
    let p12 = Openssl.ok(
        &dir,
        &[
            "pkcs12",
            "-in",
            "bundle.p12",
            "-passin",
            "pass:s3cret-pass",
            "-nodes",
        ],
    );
    assert!(p12.contains("BEGIN CERTIFICATE"), "{p12}");
    assert!(p12.contains("PRIVATE KEY"), "{p12}");
    Openssl.fails(
        &dir,
        &[
            "pkcs12",
            "-in",
            "bundle.p12",
            "-passin",
            "pass:wrong",
            "-nodes",
        ],
    );

    // The registry knows the certificate.
    let list = t.json(&["cert", "list", "acme"])["items"].clone();
    assert_eq!(list[0]["serial"], serial.as_str());
}

#[test]
fn client_bundle_verifies_with_openssl_root_only() {
    check_client_bundle(false);
}

#[test]
fn client_bundle_verifies_with_openssl_through_intermediate() {
    check_client_bundle(true);
}

#[test]
fn csr_from_openssl_req_is_signed_with_the_cas_choices_only() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.ok(&["tenant", "create", "victim", "--name", "Victim"]);
    let w = t.work();
    // A CSR that asks for another tenant's identity and for CA powers.
    Openssl.ok(
        w,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "csr-key.pem",
            "-out",
            "req.csr",
            "-subj",
            "/CN=victim/O=Evil",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "subjectAltName=URI:spiffe://example.test/tenant/victim",
        ],
    );
    t.ok(&[
        "cert",
        "sign",
        "acme",
        "--csr",
        "req.csr",
        "--out",
        "signed.pem",
    ]);
    let text = Openssl.ok(w, &["x509", "-in", "signed.pem", "-noout", "-text"]);
    assert!(
        text.contains("URI:spiffe://example.test/tenant/acme"),
        "{text}"
    );
    assert!(!text.contains("victim"), "{text}");
    assert!(!text.contains("Evil"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let cert_pub = Openssl.ok(w, &["x509", "-in", "signed.pem", "-noout", "-pubkey"]);
    let key_pub = Openssl.ok(w, &["pkey", "-in", "csr-key.pem", "-pubout"]);
    assert_eq!(
        cert_pub, key_pub,
        "the certificate must carry the CSR's key"
    );
    std::fs::copy(t.data_dir().join("ca.pem"), w.join("ca.pem")).unwrap();
    Openssl.ok(w, &["verify", "-CAfile", "ca.pem", "signed.pem"]);

    // A weak RSA key and a tampered CSR are refused, and nothing is recorded.
    Openssl.ok(
        w,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "weak-key.pem",
            "-out",
            "weak.csr",
            "-subj",
            "/CN=x",
        ],
    );
    t.fails(
        &[
            "cert", "sign", "acme", "--csr", "weak.csr", "--out", "weak.pem",
        ],
        "1024",
    );
    let mut der = Openssl
        .run(w, &["req", "-in", "req.csr", "-outform", "DER"])
        .stdout;
    let last = der.len() - 3;
    der[last] ^= 0x55;
    std::fs::write(w.join("tampered.csr"), der).unwrap();
    t.fails(
        &[
            "cert",
            "sign",
            "acme",
            "--csr",
            "tampered.csr",
            "--out",
            "t.pem",
        ],
        "signing request",
    );
    std::fs::write(w.join("garbage.csr"), b"not a csr").unwrap();
    t.fails(
        &[
            "cert",
            "sign",
            "acme",
            "--csr",
            "garbage.csr",
            "--out",
            "g.pem",
        ],
        "signing request",
    );
    assert!(!w.join("weak.pem").exists() && !w.join("t.pem").exists());
    assert_eq!(
        t.json(&["cert", "list", "acme"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn revoked_serial_appears_in_a_crl_that_openssl_enforces() {
    let t = initialised(true);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    let bad = issue(&t, "acme", "bad");
    let good = issue(&t, "acme", "good");
    let serial = bad["serial"].as_str().unwrap();
    t.ok(&["cert", "revoke", serial, "--reason", "key-compromise"]);
    t.fails(&["cert", "revoke", serial], "already revoked");
    t.fails(&["cert", "revoke", "0badc0de"], "0badc0de");
    t.fails(&["cert", "revoke", "zz-not-hex"], "serial");
    t.fails(&["cert", "revoke", serial, "--reason", "stolen"], "stolen");

    t.ok(&["crl", "--out", "crl.pem"]);
    t.ok(&["crl", "--out", "crl.der", "--der"]);
    let w = t.work();
    let text = Openssl.ok(w, &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(text.contains(&openssl_serial(serial)), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(
        !text.contains(&openssl_serial(good["serial"].as_str().unwrap())),
        "{text}"
    );
    Openssl.ok(w, &["crl", "-in", "crl.der", "-inform", "DER", "-noout"]);

    for (dir, expect_ok) in [("bad", false), ("good", true)] {
        let args = [
            "verify",
            "-crl_check",
            "-CRLfile",
            "../crl.pem",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "cert.pem",
            "cert.pem",
        ];
        let dir = w.join(dir);
        if expect_ok {
            Openssl.ok(&dir, &args);
        } else {
            let out = Openssl.fails(&dir, &args);
            assert!(out.contains("revoked"), "{out}");
        }
    }
}
