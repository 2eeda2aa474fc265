//! Signing CSRs made by `openssl req`.

use std::path::Path;

use mtls_ca::{CaError, CsrError, KeyAlgorithm};
use mtls_identity::PeerIdentity;

use crate::support::*;

/// Makes `csr.pem` with `openssl req -new` and the given key options; returns its bytes.
fn openssl_csr(dir: &Path, key_args: &[&str], extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "req",
        "-new",
        "-nodes",
        "-keyout",
        "csr-key.pem",
        "-out",
        "csr.pem",
    ];
    args.extend_from_slice(key_args);
    args.extend_from_slice(extra);
    openssl_ok(dir, &args);
    std::fs::read(dir.join("csr.pem")).unwrap()
}

fn csr_pubkey(dir: &Path) -> String {
    openssl_ok(dir, &["req", "-in", "csr.pem", "-noout", "-pubkey"])
}

#[test]
fn hostile_csr_gets_only_its_key_signed() {
    for intermediate in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca(intermediate, KeyAlgorithm::EcdsaP256);
        let csr = openssl_csr(
            dir.path(),
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &[
                "-subj",
                "/CN=someone-else/O=Evil",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "subjectAltName=URI:spiffe://example.test/tenant/victim",
            ],
        );
        let issued = ca.sign_csr(&csr, &client_request("acme")).unwrap();
        assert!(issued.key_pem.is_none());

        let text = x509_text(dir.path(), &issued.cert_pem);
        assert!(text.contains("Subject: CN = acme, O = Acme Corp"), "{text}");
        assert!(
            text.contains("URI:spiffe://example.test/tenant/acme"),
            "{text}"
        );
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        for forbidden in ["CA:TRUE", "victim", "someone-else", "Evil"] {
            assert!(
                !text.contains(forbidden),
                "{forbidden:?} leaked from the CSR:\n{text}"
            );
        }
        assert_eq!(
            cert_pubkey(dir.path(), &issued.cert_pem),
            csr_pubkey(dir.path())
        );

        let peer = PeerIdentity::from_der(&issued.cert_der, Some(&domain())).unwrap();
        assert_eq!(peer.tenant, Some("acme".parse().unwrap()));
        let run = verify(dir.path(), &ca, &issued.chain_pem, "sslclient", &[]);
        assert!(run.success, "{}", run.output);
        // The cert works with the key that never left the tenant.
        openssl_ok(dir.path(), &["x509", "-in", "cert.pem", "-noout"]);
        let text = openssl_ok(dir.path(), &["pkey", "-in", "csr-key.pem", "-pubout"]);
        assert_eq!(text, cert_pubkey(dir.path(), &issued.cert_pem));
    }
}

#[test]
fn accepted_key_types_pem_and_der() {
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    let cases: [&[&str]; 4] = [
        &["-newkey", "rsa:2048"],
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        &["-newkey", "ed25519"],
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ];
    for key_args in cases {
        let dir = tempfile::tempdir().unwrap();
        let csr = openssl_csr(dir.path(), key_args, &["-subj", "/CN=x"]);
        let issued = ca
            .sign_csr(&csr, &client_request("acme"))
            .unwrap_or_else(|e| panic!("{key_args:?}: {e}"));
        assert_eq!(
            cert_pubkey(dir.path(), &issued.cert_pem),
            csr_pubkey(dir.path())
        );
        let run = verify(dir.path(), &ca, &issued.chain_pem, "sslclient", &[]);
        assert!(run.success, "{key_args:?}: {}", run.output);

        // The same CSR in DER.
        openssl_ok(
            dir.path(),
            &[
                "req", "-in", "csr.pem", "-outform", "DER", "-out", "csr.der",
            ],
        );
        let der = std::fs::read(dir.path().join("csr.der")).unwrap();
        ca.sign_csr(&der, &client_request("acme")).unwrap();
    }
}

#[test]
fn one_key_two_certs_two_serials() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let csr = openssl_csr(
        dir.path(),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["-subj", "/CN=x"],
    );
    let a = ca.sign_csr(&csr, &client_request("acme")).unwrap();
    let b = ca.sign_csr(&csr, &client_request("acme")).unwrap();
    assert_ne!(a.serial, b.serial);
    assert_eq!(a.serial.as_bytes().len(), 16);
    assert_eq!(b.serial.as_bytes().len(), 16);
    assert!(a.serial.as_bytes()[0] & 0x80 == 0 && b.serial.as_bytes()[0] & 0x80 == 0);
}

#[test]
fn weak_rsa_is_rejected_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let csr = openssl_csr(dir.path(), &["-newkey", "rsa:1024"], &["-subj", "/CN=x"]);
    let err = ca.sign_csr(&csr, &client_request("acme")).unwrap_err();
    assert!(
        matches!(err, CaError::Csr(CsrError::WeakKey { bits: 1024 })),
        "{err:?}"
    );
    assert!(err.is_csr());
}

#[test]
fn unsupported_curve_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let csr = openssl_csr(
        dir.path(),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
        &["-subj", "/CN=x"],
    );
    let err = ca.sign_csr(&csr, &client_request("acme")).unwrap_err();
    assert!(
        matches!(&err, CaError::Csr(CsrError::UnsupportedCurve { oid }) if oid == "1.3.132.0.10"),
        "{err:?}"
    );
}

#[test]
fn tampered_and_garbage_csrs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    openssl_csr(
        dir.path(),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["-subj", "/CN=x"],
    );
    openssl_ok(
        dir.path(),
        &[
            "req", "-in", "csr.pem", "-outform", "DER", "-out", "csr.der",
        ],
    );
    let der = std::fs::read(dir.path().join("csr.der")).unwrap();

    // One flipped bit in the last octet: inside the signature's S integer.
    let mut tampered = der.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    let err = ca.sign_csr(&tampered, &client_request("acme")).unwrap_err();
    assert!(
        matches!(err, CaError::Csr(CsrError::BadSignature)),
        "{err:?}"
    );

    // A changed subject byte breaks the signature just the same.
    // The CN attribute: OID 2.5.4.3 (55 04 03), string tag, length 1, "x".
    let pos = der
        .windows(3)
        .position(|w| w == [0x55, 0x04, 0x03])
        .unwrap()
        + 5;
    assert_eq!(der[pos], b'x');
    let mut tampered = der.clone();
    tampered[pos] = b'y';
    let err = ca.sign_csr(&tampered, &client_request("acme")).unwrap_err();
    assert!(
        matches!(err, CaError::Csr(CsrError::BadSignature)),
        "{err:?}"
    );

    for garbage in [
        &b"garbage"[..],
        b"",
        &der[..der.len() - 5],
        b"-----BEGIN CERTIFICATE REQUEST-----\n!!!\n",
    ] {
        let err = ca.sign_csr(garbage, &client_request("acme")).unwrap_err();
        assert!(
            matches!(err, CaError::Csr(CsrError::Malformed { .. })),
            "{err:?}"
        );
    }
    let mut trailing = der.clone();
    trailing.push(0);
    let err = ca.sign_csr(&trailing, &client_request("acme")).unwrap_err();
    assert!(
        matches!(err, CaError::Csr(CsrError::Malformed { .. })),
        "{err:?}"
    );

    // A certificate is not a CSR.
    let err = ca
        .sign_csr(ca.root_pem().as_bytes(), &client_request("acme"))
        .unwrap_err();
    assert!(
        matches!(err, CaError::Csr(CsrError::WrongPemLabel { .. })),
        "{err:?}"
    );
}

#[test]
fn request_is_validated_before_the_csr() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let csr = openssl_csr(dir.path(), &["-newkey", "ed25519"], &["-subj", "/CN=x"]);
    let mut req = client_request("acme");
    req.validity = std::time::Duration::ZERO;
    let err = ca.sign_csr(&csr, &req).unwrap_err();
    assert!(matches!(err, CaError::InvalidValidity { .. }), "{err:?}");
}
