//! Issuing client and server certificates; profile checks with `openssl x509 -text`.

use std::time::Duration;

use mtls_ca::{CaError, KeyAlgorithm, ServerCertRequest};
use mtls_identity::PeerIdentity;
use time::OffsetDateTime;

use crate::support::*;

#[test]
fn client_and_server_certs_verify_with_and_without_intermediate() {
    for intermediate in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca(intermediate, KeyAlgorithm::EcdsaP256);
        assert_eq!(ca.has_intermediate(), intermediate);

        let client = ca.issue_client(&client_request("acme")).unwrap();
        assert_eq!(
            client.chain_pem.matches("BEGIN CERTIFICATE").count(),
            1 + usize::from(intermediate)
        );
        let run = verify(dir.path(), &ca, &client.chain_pem, "sslclient", &[]);
        assert!(run.success, "intermediate={intermediate}: {}", run.output);
        assert!(run.output.contains("cert.pem: OK"));
        // clientAuth only: the same certificate is no good as a server certificate.
        let run = verify(dir.path(), &ca, &client.chain_pem, "sslserver", &[]);
        assert!(!run.success, "client cert accepted for serverAuth");

        let mut req = ServerCertRequest::new(["proxy.example.test", "*.proxy.example.test"]);
        req.ip_addresses.push("127.0.0.1".parse().unwrap());
        let server = ca.issue_server(&req).unwrap();
        let run = verify(dir.path(), &ca, &server.chain_pem, "sslserver", &[]);
        assert!(run.success, "intermediate={intermediate}: {}", run.output);
        let run = verify(dir.path(), &ca, &server.chain_pem, "sslclient", &[]);
        assert!(!run.success, "server cert accepted for clientAuth");

        // Without the intermediate in the file, the leaf alone does not verify.
        if intermediate {
            let run = verify(dir.path(), &ca, &client.cert_pem, "sslclient", &[]);
            assert!(!run.success);
        }
    }
}

#[test]
fn client_profile_as_openssl_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    let issued = ca.issue_client(&client_request("acme")).unwrap();
    let text = x509_text(dir.path(), &issued.cert_pem);
    for expected in [
        "URI:spiffe://example.test/tenant/acme",
        "TLS Web Client Authentication",
        "CA:FALSE",
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "Subject: CN = acme, O = Acme Corp",
        "Issuer: CN = multi-mtls-proxy issuing CA (example.test), O = Example",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("TLS Web Server Authentication"));
    assert!(!text.contains("CA:TRUE"));

    // The issuer DN hint is the intermediate's subject, byte for byte.
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    assert_eq!(cert.issuer().as_raw(), ca.issuer_subject_der());
}

#[test]
fn ca_profiles_as_openssl_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let single = ca(false, KeyAlgorithm::EcdsaP256);
    let text = x509_text(dir.path(), single.root_pem());
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert_eq!(single.chain_pem(), "");

    let double = ca(true, KeyAlgorithm::EcdsaP256);
    let root = x509_text(dir.path(), double.root_pem());
    assert!(root.contains("CA:TRUE, pathlen:1"), "{root}");
    let int = x509_text(dir.path(), &double.chain_pem());
    assert!(int.contains("CA:TRUE, pathlen:0"), "{int}");
    assert!(int.contains("Certificate Sign, CRL Sign"), "{int}");
    assert!(int.contains("X509v3 Authority Key Identifier"), "{int}");
    assert!(
        int.contains("Subject: CN = multi-mtls-proxy issuing CA (example.test)"),
        "{int}"
    );
    // The intermediate chains to the root.
    write(dir.path(), "root.pem", double.root_pem());
    write(dir.path(), "int.pem", double.chain_pem());
    openssl_ok(dir.path(), &["verify", "-CAfile", "root.pem", "int.pem"]);
}

#[test]
fn p384_and_ed25519_work_end_to_end() {
    for alg in [KeyAlgorithm::EcdsaP384, KeyAlgorithm::Ed25519] {
        for intermediate in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let ca = ca(intermediate, alg);
            assert_eq!(ca.key_algorithm(), Some(alg));
            let mut req = client_request("acme");
            req.key_algorithm = alg;
            let issued = ca.issue_client(&req).unwrap();
            let run = verify(dir.path(), &ca, &issued.chain_pem, "sslclient", &[]);
            assert!(
                run.success,
                "{alg} intermediate={intermediate}: {}",
                run.output
            );
            let server = ca
                .issue_server(&ServerCertRequest {
                    key_algorithm: alg,
                    ..ServerCertRequest::new(["localhost"])
                })
                .unwrap();
            let run = verify(dir.path(), &ca, &server.chain_pem, "sslserver", &[]);
            assert!(
                run.success,
                "{alg} intermediate={intermediate}: {}",
                run.output
            );
        }
    }
    // A CA of one algorithm issues keys of another.
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    let mut req = client_request("acme");
    req.key_algorithm = KeyAlgorithm::Ed25519;
    let issued = ca.issue_client(&req).unwrap();
    assert!(x509_text(dir.path(), &issued.cert_pem).contains("ED25519"));
    assert!(verify(dir.path(), &ca, &issued.chain_pem, "sslclient", &[]).success);
}

#[test]
fn workload_names_the_uri_and_cn() {
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let mut req = client_request("acme");
    req.workload = Some("billing-job".into());
    let issued = ca.issue_client(&req).unwrap();
    let peer = PeerIdentity::from_der(&issued.cert_der, Some(&domain())).unwrap();
    assert_eq!(peer.uris, ["spiffe://example.test/tenant/acme/billing-job"]);
    assert_eq!(peer.common_name.as_deref(), Some("billing-job"));
    assert_eq!(peer.tenant, Some("acme".parse().unwrap()));

    req.workload = Some("Billing/Job".into());
    let err = ca.issue_client(&req).unwrap_err();
    assert!(
        matches!(&err, CaError::InvalidWorkload { workload, .. } if workload == "Billing/Job"),
        "{err}"
    );
}

#[test]
fn server_names_and_cn() {
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let req = ServerCertRequest {
        ip_addresses: vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        ..ServerCertRequest::default()
    };
    let issued = ca.issue_server(&req).unwrap();
    let peer = PeerIdentity::from_der(&issued.cert_der, None).unwrap();
    assert_eq!(peer.common_name.as_deref(), Some("10.0.0.1"));
    assert_eq!(peer.ip_addresses, req.ip_addresses);
    assert!(peer.dns_names.is_empty());

    let err = ca.issue_server(&ServerCertRequest::default()).unwrap_err();
    assert!(matches!(err, CaError::NoServerNames), "{err}");
    let err = ca
        .issue_server(&ServerCertRequest::new(["bad name"]))
        .unwrap_err();
    assert!(
        matches!(&err, CaError::InvalidRequest { field: "dns_names", value, .. } if value == "bad name"),
        "{err}"
    );
}

#[test]
fn serials_are_random_positive_16_octets_and_match_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let a = ca.issue_client(&client_request("acme")).unwrap();
    let b = ca.issue_client(&client_request("acme")).unwrap();
    assert_ne!(a.serial, b.serial);
    assert_ne!(a.fingerprint, b.fingerprint);
    for issued in [&a, &b] {
        let bytes = issued.serial.as_bytes();
        assert_eq!(bytes.len(), 16);
        assert_eq!(
            bytes[0] & 0x80,
            0,
            "serial must be positive without padding"
        );
        write(dir.path(), "c.pem", &issued.cert_pem);
        let out = openssl_ok(dir.path(), &["x509", "-in", "c.pem", "-noout", "-serial"]);
        assert_eq!(
            out.trim(),
            format!("serial={}", issued.serial.to_string().to_uppercase())
        );
        let out = openssl_ok(
            dir.path(),
            &["x509", "-in", "c.pem", "-noout", "-fingerprint", "-sha256"],
        );
        assert!(out.contains(&issued.fingerprint.to_colon_hex()), "{out}");
    }
}

#[test]
fn validity_window_and_limits() {
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let before = OffsetDateTime::now_utc();
    let mut req = client_request("acme");
    req.validity = Duration::from_secs(3600);
    let issued = ca.issue_client(&req).unwrap();
    let after = OffsetDateTime::now_utc();
    let skew = time::Duration::minutes(5);
    assert!(issued.not_before <= before - skew + time::Duration::seconds(1));
    assert!(issued.not_before >= before - skew - time::Duration::seconds(1));
    assert!(issued.not_after >= before + time::Duration::hours(1) - time::Duration::seconds(1));
    assert!(issued.not_after <= after + time::Duration::hours(1));
    let peer = PeerIdentity::from_der(&issued.cert_der, None).unwrap();
    assert_eq!(
        (peer.not_before, peer.not_after),
        (issued.not_before, issued.not_after)
    );

    for bad in [
        Duration::ZERO,
        mtls_ca::MAX_LEAF_VALIDITY + Duration::from_secs(1),
    ] {
        req.validity = bad;
        let err = ca.issue_client(&req).unwrap_err();
        assert!(
            matches!(err, CaError::InvalidValidity { field: "validity", validity, .. } if validity == bad),
            "{err}"
        );
    }
    req.validity = mtls_ca::MAX_LEAF_VALIDITY;
    ca.issue_client(&req).unwrap();

    req.display_name = String::new();
    let err = ca.issue_client(&req).unwrap_err();
    assert!(
        matches!(
            err,
            CaError::InvalidRequest {
                field: "display_name",
                ..
            }
        ),
        "{err}"
    );
    req.display_name = "x".repeat(65);
    assert!(ca.issue_client(&req).is_err());
}

#[test]
fn leaves_never_outlive_the_issuing_ca() {
    let ca = mtls_ca::CertificateAuthority::generate(&mtls_ca::CaConfig {
        root_validity: Duration::from_secs(3600),
        ..mtls_ca::CaConfig::default()
    })
    .unwrap();
    let issued = ca.issue_client(&client_request("acme")).unwrap();
    assert_eq!(issued.not_after, ca.issuer_not_after());
}

#[test]
fn invalid_ca_configs_are_rejected() {
    use mtls_ca::{CaConfig, CertificateAuthority};
    let err = CertificateAuthority::generate(&CaConfig {
        common_name: String::new(),
        ..CaConfig::default()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            CaError::InvalidConfig {
                field: "common_name",
                ..
            }
        ),
        "{err}"
    );
    let err = CertificateAuthority::generate(&CaConfig {
        intermediate: true,
        intermediate_validity: Duration::from_secs(100),
        root_validity: Duration::from_secs(50),
        ..CaConfig::default()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            CaError::InvalidValidity {
                field: "intermediate_validity",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn debug_output_never_shows_keys() {
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    let issued = ca.issue_client(&client_request("acme")).unwrap();
    let key_pem = issued.key_pem.as_deref().unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let key_body: String = key_pem.lines().nth(1).unwrap().to_owned();
    for debug in [
        format!("{ca:?}"),
        format!("{issued:?}"),
        format!("{issued:#?}"),
    ] {
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        assert!(!debug.contains(&key_body), "{debug}");
    }
    assert!(format!("{issued:?}").contains("[redacted]"));
    assert!(format!("{ca:?}").contains("[redacted]"));
}
