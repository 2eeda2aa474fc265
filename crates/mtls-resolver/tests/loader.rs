//! `Identity::from_pem_files`: good files (made by rcgen and by the `openssl` CLI) and every
//! kind of bad input, each reported with the file at fault.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use mtls_resolver::{Identity, IdentityError, IdentityWarning, LoadError};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
use support::Ca;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A leaf (PEM) signed by `ca` with `customize` applied, and its key (PEM).
fn leaf_pem(ca: &Ca, customize: impl FnOnce(&mut CertificateParams)) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "loader test");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    customize(&mut params);
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn loads_a_chain_and_key() {
    let files = Files::new();
    let root = Ca::root("Root");
    let inter = root.intermediate("Intermediate");
    let (leaf, key) = leaf_pem(&inter, |_| {});
    let cert = files.write("chain.pem", format!("{leaf}{}", inter.pem()));
    let key = files.write("key.pem", key);
    let id = Identity::from_pem_files("acme", &cert, &key).unwrap();
    assert_eq!(id.name(), "acme");
    assert_eq!(id.chain().len(), 2);
    assert_eq!(id.subject(), "CN=loader test");
    assert_eq!(id.issuer(), "CN=Intermediate, O=Test PKI");
    assert!(id.warnings().is_empty(), "{:?}", id.warnings());
    assert!(id.not_before() < id.not_after());
}

#[test]
fn loads_openssl_generated_sec1_key_and_cert() {
    let files = Files::new();
    let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
    let status = Command::new("/usr/bin/openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    let status = Command::new("/usr/bin/openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=openssl client/O=Globex",
        ])
        .arg("-key")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .status()
        .unwrap();
    assert!(status.success());
    let id = Identity::from_pem_files("globex", &cert, &key).unwrap();
    assert_eq!(id.subject(), "CN=openssl client, O=Globex");
}

#[test]
fn expired_certificate_loads_with_a_warning() {
    let files = Files::new();
    let ca = Ca::root("CA");
    let (leaf, key) = leaf_pem(&ca, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let id = Identity::from_pem_files("old", files.write("c.pem", leaf), files.write("k.pem", key))
        .unwrap();
    match id.warnings() {
        [
            IdentityWarning::Expired {
                index: 0,
                subject,
                not_after,
            },
        ] => {
            assert_eq!(subject, "CN=loader test");
            assert_eq!(not_after.year(), 2021);
        }
        other => panic!("expected one Expired warning, got {other:?}"),
    }
    assert!(id.warnings()[0].to_string().contains("expired"));
}

#[test]
fn not_yet_valid_and_server_only_certificates_warn() {
    let files = Files::new();
    let ca = Ca::root("CA");
    let (leaf, key) = leaf_pem(&ca, |p| {
        p.not_before = rcgen::date_time_ymd(2090, 1, 1);
        p.not_after = rcgen::date_time_ymd(2091, 1, 1);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let id = Identity::from_pem_files(
        "future",
        files.write("c.pem", leaf),
        files.write("k.pem", key),
    )
    .unwrap();
    assert!(
        matches!(
            id.warnings(),
            [
                IdentityWarning::NotYetValid { index: 0, .. },
                IdentityWarning::NotForClientAuth { .. }
            ]
        ),
        "{:?}",
        id.warnings()
    );
}

fn assert_names(err: &LoadError, path: &Path) {
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "{text} should name {}",
        path.display()
    );
}

#[test]
fn key_that_does_not_match_is_refused() {
    let files = Files::new();
    let ca = Ca::root("CA");
    let (leaf, _) = leaf_pem(&ca, |_| {});
    let (_, other_key) = leaf_pem(&ca, |_| {});
    let (cert, key) = (files.write("c.pem", leaf), files.write("k.pem", other_key));
    let err = Identity::from_pem_files("acme", &cert, &key).unwrap_err();
    assert!(err.is_key_mismatch(), "{err:?}");
    assert_names(&err, &cert);
    assert_names(&err, &key);
    assert!(err.to_string().contains("does not match"));
}

#[test]
fn missing_pieces_name_the_file() {
    let files = Files::new();
    let ca = Ca::root("CA");
    let (leaf, key) = leaf_pem(&ca, |_| {});
    let cert_path = files.write("c.pem", &leaf);
    let key_path = files.write("k.pem", &key);

    // A certificate file with only a key in it.
    let err = Identity::from_pem_files("a", &key_path, &key_path).unwrap_err();
    assert!(
        matches!(err, LoadError::NoCertificates { ref path, .. } if *path == key_path),
        "{err:?}"
    );
    assert_names(&err, &key_path);

    // A key file with only a certificate in it.
    let err = Identity::from_pem_files("a", &cert_path, &cert_path).unwrap_err();
    assert!(
        matches!(err, LoadError::NoKey { ref path, .. } if *path == cert_path),
        "{err:?}"
    );

    // A file that does not exist.
    let missing = files.path("nope.pem");
    let err = Identity::from_pem_files("a", &missing, &key_path).unwrap_err();
    assert!(
        matches!(err, LoadError::Read { ref path, .. } if *path == missing),
        "{err:?}"
    );
    assert_names(&err, &missing);
    assert!(
        std::error::Error::source(&err).is_some(),
        "the io::Error is the source"
    );

    // Broken PEM.
    let broken = files.write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let err = Identity::from_pem_files("a", &broken, &key_path).unwrap_err();
    assert!(
        matches!(err, LoadError::Pem { ref path, .. } if *path == broken),
        "{err:?}"
    );

    // A CERTIFICATE block that is not a certificate.
    let junk = files.write(
        "junk.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let err = Identity::from_pem_files("a", &junk, &key_path).unwrap_err();
    match &err {
        LoadError::Certificates { path, source, .. }
            if matches!(
                **source,
                IdentityError::MalformedCertificate { index: 0, .. }
            ) =>
        {
            assert_eq!(*path, junk);
        }
        other => panic!("expected a malformed certificate error, got {other:?}"),
    }

    // A bad identity name is refused before touching the files.
    let err = Identity::from_pem_files("no spaces", &cert_path, &key_path).unwrap_err();
    assert!(matches!(err, LoadError::InvalidName { .. }), "{err:?}");
}

#[test]
fn identity_names_are_checked() {
    let ca = Ca::root("CA");
    let (leaf, key) = ca.client_leaf("x", &rcgen::PKCS_ECDSA_P256_SHA256);
    let key = || rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    for bad in ["", "has space", "ünï", &"x".repeat(65)] {
        let err =
            Identity::from_der(bad, vec![leaf.clone()], key(), &support::provider()).unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidName { .. }),
            "{bad:?}: {err:?}"
        );
    }
    Identity::from_der(
        "ok-name_1.v2",
        vec![leaf.clone()],
        key(),
        &support::provider(),
    )
    .unwrap();
    let err = Identity::from_der("empty", Vec::new(), key(), &support::provider()).unwrap_err();
    assert!(matches!(err, IdentityError::EmptyChain { .. }), "{err:?}");
}
