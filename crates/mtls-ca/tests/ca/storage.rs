//! Saving and loading a CA directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mtls_ca::{CaError, CertificateAuthority, KeyAlgorithm, Overwrite};

use crate::support::*;

const ALL_FILES: [&str; 4] = [
    "root.pem",
    "root-key.pem",
    "intermediate.pem",
    "intermediate-key.pem",
];

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn save_load_round_trip_with_modes() {
    for (intermediate, alg) in [
        (false, KeyAlgorithm::EcdsaP256),
        (true, KeyAlgorithm::EcdsaP384),
        (true, KeyAlgorithm::Ed25519),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let ca = ca(intermediate, alg);
        ca.save(&dir, Overwrite::Never).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("root.pem")), 0o644);
        assert_eq!(mode(&dir.join("root-key.pem")), 0o600);
        if intermediate {
            assert_eq!(mode(&dir.join("intermediate.pem")), 0o644);
            assert_eq!(mode(&dir.join("intermediate-key.pem")), 0o600);
        }
        let files = fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, if intermediate { 4 } else { 2 });

        let loaded = CertificateAuthority::load(&dir).unwrap();
        assert_eq!(loaded.root_der(), ca.root_der());
        assert_eq!(loaded.root_pem(), ca.root_pem());
        assert_eq!(loaded.chain_pem(), ca.chain_pem());
        assert_eq!(loaded.issuer_subject_der(), ca.issuer_subject_der());
        assert_eq!(loaded.key_algorithm(), Some(alg));

        // The loaded CA issues certificates that chain to the saved root.
        let issued = loaded.issue_client(&client_request("acme")).unwrap();
        let run = verify(tmp.path(), &ca, &issued.chain_pem, "sslclient", &[]);
        assert!(run.success, "{}", run.output);
        // openssl reads the saved key files, and they match the certificates.
        let key_pub = openssl_ok(&dir, &["pkey", "-in", "root-key.pem", "-pubout"]);
        assert_eq!(key_pub, cert_pubkey(tmp.path(), ca.root_pem()));
    }
}

#[test]
fn save_refuses_to_overwrite_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    write(dir, "intermediate-key.pem", "precious");
    let err = ca.save(dir, Overwrite::Never).unwrap_err();
    assert!(
        matches!(&err, CaError::AlreadyExists { path } if *path == dir.join("intermediate-key.pem")),
        "{err}"
    );
    assert!(err.is_already_exists());
    for name in ["root.pem", "root-key.pem", "intermediate.pem"] {
        assert!(!dir.join(name).exists(), "{name} was written");
    }
    assert_eq!(
        fs::read_to_string(dir.join("intermediate-key.pem")).unwrap(),
        "precious"
    );

    ca.save(dir, Overwrite::Force).unwrap();
    let loaded = CertificateAuthority::load(dir).unwrap();
    assert_eq!(loaded.root_der(), ca.root_der());
    assert_eq!(mode(&dir.join("intermediate-key.pem")), 0o600);

    // A second save of a CA without intermediate, forced, replaces the whole CA.
    let single = crate::support::ca(false, KeyAlgorithm::EcdsaP256);
    let err = single.save(dir, Overwrite::Never).unwrap_err();
    assert!(err.is_already_exists());
    single.save(dir, Overwrite::Force).unwrap();
    assert!(!dir.join("intermediate.pem").exists());
    let loaded = CertificateAuthority::load(dir).unwrap();
    assert!(!loaded.has_intermediate());
    assert_eq!(loaded.root_der(), single.root_der());
}

#[test]
fn load_reports_missing_files_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(
        matches!(&err, CaError::NotFound { path } if *path == dir.join("root.pem")),
        "{err}"
    );

    ca(true, KeyAlgorithm::EcdsaP256)
        .save(dir, Overwrite::Never)
        .unwrap();
    fs::remove_file(dir.join("intermediate-key.pem")).unwrap();
    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(
        matches!(&err, CaError::NotFound { path } if *path == dir.join("intermediate-key.pem")),
        "{err}"
    );
    assert!(err.to_string().contains("intermediate-key.pem"));
}

#[test]
fn load_detects_key_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ca(true, KeyAlgorithm::EcdsaP256)
        .save(&a, Overwrite::Never)
        .unwrap();
    ca(true, KeyAlgorithm::EcdsaP256)
        .save(&b, Overwrite::Never)
        .unwrap();
    for name in ["root-key.pem", "intermediate-key.pem"] {
        let dir = tmp.path().join(format!("mixed-{name}"));
        fs::create_dir(&dir).unwrap();
        for f in ALL_FILES {
            let from = if f == name { &b } else { &a };
            fs::copy(from.join(f), dir.join(f)).unwrap();
        }
        let err = CertificateAuthority::load(&dir).unwrap_err();
        let cert = dir.join(name.replace("-key", ""));
        assert!(
            matches!(&err, CaError::KeyMismatch { cert_path, key_path } if *cert_path == cert && *key_path == dir.join(name)),
            "{err}"
        );
    }
}

#[test]
fn load_refuses_keys_readable_by_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ca(false, KeyAlgorithm::EcdsaP256)
        .save(dir, Overwrite::Never)
        .unwrap();
    let key = dir.join("root-key.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(
        matches!(&err, CaError::UnsafePermissions { path, mode: 0o644 } if *path == key),
        "{err}"
    );
    assert!(err.to_string().contains("0644"), "{err}");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    CertificateAuthority::load(dir).unwrap();
}

#[test]
fn load_rejects_bad_pem_non_ca_and_foreign_intermediates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    ca.save(&dir, Overwrite::Never).unwrap();

    // Not PEM.
    let root = fs::read(dir.join("root.pem")).unwrap();
    write(&dir, "root.pem", "hello");
    let err = CertificateAuthority::load(&dir).unwrap_err();
    assert!(
        matches!(&err, CaError::BadPem { path, .. } if *path == dir.join("root.pem")),
        "{err}"
    );

    // PEM, but not a certificate.
    write(
        &dir,
        "root.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let err = CertificateAuthority::load(&dir).unwrap_err();
    assert!(matches!(&err, CaError::BadCertificate { .. }), "{err}");

    // A leaf certificate is not a CA.
    let leaf = ca.issue_client(&client_request("acme")).unwrap();
    write(&dir, "root.pem", &leaf.cert_pem);
    let err = CertificateAuthority::load(&dir).unwrap_err();
    assert!(
        matches!(&err, CaError::NotCa { path, .. } if *path == dir.join("root.pem")),
        "{err}"
    );
    // The intermediate as root: a CA, but not self-signed.
    write(&dir, "root.pem", ca.chain_pem());
    let err = CertificateAuthority::load(&dir).unwrap_err();
    assert!(matches!(&err, CaError::NotCa { .. }), "{err}");
    fs::write(dir.join("root.pem"), &root).unwrap();

    // Bad key file.
    let key = fs::read(dir.join("root-key.pem")).unwrap();
    fs::write(
        dir.join("root-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = CertificateAuthority::load(&dir).unwrap_err();
    assert!(
        matches!(&err, CaError::BadKey { path, .. } if *path == dir.join("root-key.pem")),
        "{err}"
    );
    fs::write(dir.join("root-key.pem"), &key).unwrap();

    // An intermediate (with its key) from another CA.
    let other = tmp.path().join("other");
    crate::support::ca(true, KeyAlgorithm::EcdsaP256)
        .save(&other, Overwrite::Never)
        .unwrap();
    for f in ["intermediate.pem", "intermediate-key.pem"] {
        fs::copy(other.join(f), dir.join(f)).unwrap();
    }
    let err = CertificateAuthority::load(&dir).unwrap_err();
    assert!(
        matches!(&err, CaError::ChainMismatch { path, .. } if *path == dir.join("intermediate.pem")),
        "{err}"
    );
}
