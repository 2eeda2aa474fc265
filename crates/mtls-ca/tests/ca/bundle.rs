//! Tenant bundles: PEM files and PKCS#12, checked with `openssl pkcs12`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mtls_ca::{CaError, KeyAlgorithm, Overwrite, P12Options, write_bundle};

use crate::support::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn bundle_with_p12_opens_in_openssl_3() {
    for (intermediate, alg) in [
        (false, KeyAlgorithm::EcdsaP256),
        (true, KeyAlgorithm::EcdsaP256),
        (true, KeyAlgorithm::EcdsaP384),
        (true, KeyAlgorithm::Ed25519),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("acme");
        let ca = ca(intermediate, alg);
        let mut req = client_request("acme");
        req.key_algorithm = alg;
        let issued = ca.issue_client(&req).unwrap();
        let options = P12Options {
            password: "s3cret pass",
            friendly_name: "acme",
        };
        let paths = write_bundle(&dir, &issued, &ca, Some(&options), Overwrite::Never).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&paths.cert), 0o644);
        assert_eq!(mode(&paths.ca), 0o644);
        let key = paths.key.as_ref().unwrap();
        let p12 = paths.p12.as_ref().unwrap();
        assert_eq!(mode(key), 0o600);
        assert_eq!(mode(p12), 0o600);
        assert_eq!(fs::read_to_string(&paths.cert).unwrap(), issued.chain_pem);
        assert_eq!(fs::read_to_string(&paths.ca).unwrap(), ca.root_pem());
        assert_eq!(
            fs::read_to_string(key).unwrap(),
            *issued.key_pem.clone().unwrap()
        );

        // openssl reads key.pem (Ed25519 included), and it is the certificate's key.
        let key_pub = openssl_ok(&dir, &["pkey", "-in", "key.pem", "-pubout"]);
        assert_eq!(key_pub, cert_pubkey(tmp.path(), &issued.cert_pem), "{alg}");

        // The PEM files verify as they are.
        let out = openssl_ok(
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
        assert!(out.contains("OK"), "{out}");

        // OpenSSL 3 opens the bundle without -legacy; it holds the key and the cert.
        let out = openssl_ok(
            &dir,
            &[
                "pkcs12",
                "-in",
                "bundle.p12",
                "-passin",
                "pass:s3cret pass",
                "-nodes",
            ],
        );
        assert!(out.contains("-----BEGIN PRIVATE KEY-----"), "{out}");
        assert!(out.contains(issued.cert_pem.trim()), "leaf missing:\n{out}");
        assert!(out.contains("friendlyName: acme"), "{out}");
        let certs = out.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(certs, 2 + usize::from(intermediate), "{out}");
        // The key in the bundle is the key of the certificate.
        write(&dir, "p12-key.pem", &out);
        let key_pub = openssl_ok(&dir, &["pkey", "-in", "p12-key.pem", "-pubout"]);
        assert_eq!(key_pub, cert_pubkey(tmp.path(), &issued.cert_pem));

        let info = openssl_ok(
            &dir,
            &[
                "pkcs12",
                "-in",
                "bundle.p12",
                "-passin",
                "pass:s3cret pass",
                "-info",
                "-noout",
            ],
        );
        assert!(info.contains("AES-256-CBC"), "{info}");
        let run = openssl(
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
        assert!(!run.success, "wrong password accepted");
    }
}

#[test]
fn bundle_refuses_to_overwrite_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let issued = ca.issue_client(&client_request("acme")).unwrap();
    write(dir, "ca.pem", "old");
    let options = P12Options {
        password: "pw",
        friendly_name: "acme",
    };
    let err = write_bundle(dir, &issued, &ca, Some(&options), Overwrite::Never).unwrap_err();
    assert!(
        matches!(&err, CaError::AlreadyExists { path } if *path == dir.join("ca.pem")),
        "{err}"
    );
    for name in ["cert.pem", "key.pem", "bundle.p12"] {
        assert!(!dir.join(name).exists(), "{name} was written");
    }
    assert_eq!(fs::read_to_string(dir.join("ca.pem")).unwrap(), "old");
    write_bundle(dir, &issued, &ca, Some(&options), Overwrite::Force).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("ca.pem")).unwrap(),
        ca.root_pem()
    );
}

#[test]
fn csr_certificates_get_pem_only() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca(true, KeyAlgorithm::EcdsaP256);
    openssl_ok(
        tmp.path(),
        &[
            "req", "-new", "-nodes", "-newkey", "ed25519", "-keyout", "k.pem", "-out", "csr.pem",
            "-subj", "/CN=x",
        ],
    );
    let csr = fs::read(tmp.path().join("csr.pem")).unwrap();
    let issued = ca.sign_csr(&csr, &client_request("acme")).unwrap();

    let dir = tmp.path().join("out");
    let options = P12Options {
        password: "pw",
        friendly_name: "acme",
    };
    let err = write_bundle(&dir, &issued, &ca, Some(&options), Overwrite::Never).unwrap_err();
    assert!(
        matches!(&err, CaError::P12NeedsKey { serial } if *serial == issued.serial),
        "{err}"
    );
    assert!(!dir.exists(), "nothing may be written on error");

    let paths = write_bundle(&dir, &issued, &ca, None, Overwrite::Never).unwrap();
    assert_eq!((paths.key, paths.p12), (None, None));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
}

#[test]
fn empty_p12_password_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca(false, KeyAlgorithm::EcdsaP256);
    let issued = ca.issue_client(&client_request("acme")).unwrap();
    let options = P12Options {
        password: "",
        friendly_name: "acme",
    };
    let err = write_bundle(tmp.path(), &issued, &ca, Some(&options), Overwrite::Never).unwrap_err();
    assert!(matches!(err, CaError::EmptyP12Password { .. }), "{err}");
    assert!(!format!("{options:?}").contains("password: \"\""));
}
