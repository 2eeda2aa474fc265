//! CRLs checked with `openssl crl` and `openssl verify -crl_check`.

use mtls_ca::{CaError, CrlRequest, KeyAlgorithm, RevokedCertificate};
use mtls_identity::RevocationReason;
use time::OffsetDateTime;

use crate::support::*;

#[test]
fn openssl_reads_the_crl_and_rejects_the_revoked_cert() {
    for (intermediate, alg) in [
        (false, KeyAlgorithm::EcdsaP256),
        (true, KeyAlgorithm::EcdsaP256),
        (true, KeyAlgorithm::Ed25519),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca(intermediate, alg);
        let revoked = ca.issue_client(&client_request("acme")).unwrap();
        let other_revoked = ca.issue_client(&client_request("globex")).unwrap();
        let good = ca.issue_client(&client_request("initech")).unwrap();
        let now = OffsetDateTime::now_utc();
        let crl = ca
            .crl(&CrlRequest {
                number: 42,
                this_update: now,
                next_update: now + time::Duration::days(7),
                revoked: vec![
                    RevokedCertificate {
                        serial: revoked.serial.clone(),
                        revoked_at: now,
                        reason: RevocationReason::KeyCompromise,
                    },
                    RevokedCertificate {
                        serial: other_revoked.serial.clone(),
                        revoked_at: now,
                        reason: RevocationReason::Unspecified,
                    },
                ],
            })
            .unwrap();
        assert!(crl.pem.starts_with("-----BEGIN X509 CRL-----"));
        write(dir.path(), "crl.pem", &crl.pem);

        let text = openssl_ok(dir.path(), &["crl", "-in", "crl.pem", "-noout", "-text"]);
        for serial in [&revoked.serial, &other_revoked.serial] {
            let hex = serial.to_string().to_uppercase();
            assert!(text.contains(&hex), "serial {hex} missing:\n{text}");
        }
        assert!(!text.contains(&good.serial.to_string().to_uppercase()));
        assert!(text.contains("X509v3 CRL Number"), "{text}");
        assert!(text.contains("42"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");

        // The CRL is signed by the issuing CA: verify its signature against it.
        write(
            dir.path(),
            "issuer.pem",
            if intermediate {
                ca.chain_pem()
            } else {
                ca.root_pem().to_owned()
            },
        );
        let out = openssl_ok(
            dir.path(),
            &["crl", "-in", "crl.pem", "-noout", "-CAfile", "issuer.pem"],
        );
        assert!(out.contains("verify OK"), "{out}");

        let run = verify(
            dir.path(),
            &ca,
            &revoked.chain_pem,
            "sslclient",
            &["-crl_check", "-CRLfile", "crl.pem"],
        );
        assert!(!run.success, "revoked certificate verified");
        assert!(run.output.contains("certificate revoked"), "{}", run.output);
        let run = verify(
            dir.path(),
            &ca,
            &good.chain_pem,
            "sslclient",
            &["-crl_check", "-CRLfile", "crl.pem"],
        );
        assert!(
            run.success,
            "{alg} intermediate={intermediate}: {}",
            run.output
        );
    }
}

#[test]
fn empty_crl_and_bad_dates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let now = OffsetDateTime::now_utc();
    let crl = ca
        .crl(&CrlRequest {
            number: 1,
            this_update: now,
            next_update: now + time::Duration::hours(1),
            revoked: Vec::new(),
        })
        .unwrap();
    write(dir.path(), "crl.pem", &crl.pem);
    let text = openssl_ok(dir.path(), &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(text.contains("No Revoked Certificates"), "{text}");
    let good = ca.issue_client(&client_request("acme")).unwrap();
    let run = verify(
        dir.path(),
        &ca,
        &good.chain_pem,
        "sslclient",
        &["-crl_check", "-CRLfile", "crl.pem"],
    );
    assert!(run.success, "{}", run.output);

    let err = ca
        .crl(&CrlRequest {
            number: 2,
            this_update: now,
            next_update: now,
            revoked: Vec::new(),
        })
        .unwrap_err();
    assert!(matches!(err, CaError::InvalidCrl { .. }), "{err}");
}
