//! The PEM loader: good material loads, and every error names the file and its kind.

use std::error::Error as _;
use std::path::Path;

use time::OffsetDateTime;

use super::{files, required, server_params};
use crate::{BuildError, ClientAuth, FileKind, PemError};

const BROKEN_CERT: &str = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
const JUNK_CERT: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

fn text(err: &PemError) -> String {
    err.to_string()
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn loads_chains_keys_roots_and_crls() {
    let f = files();
    let chain = crate::load_cert_chain(&f.path("server.pem")).unwrap();
    assert_eq!(chain.len(), 1);
    crate::load_private_key(&f.path("server-key.pem")).unwrap();
    let roots = crate::load_root_store(&f.path("ca.pem")).unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(crate::load_crls(&f.path("crl.pem")).unwrap().len(), 1);

    let loaded = crate::load_cert_and_key(
        &f.path("client.pem"),
        &f.path("client-key.pem"),
        &crate::provider(),
    )
    .unwrap();
    assert_eq!(loaded.chain.len(), 1);
    assert_eq!(loaded.info.serial, "4202");
    assert_eq!(loaded.info.path, f.path("client.pem"));
    assert_eq!(loaded.info.identity, None);
    let debug = format!("{loaded:?}");
    assert!(
        debug.contains("chain_len: 1") && !debug.contains("key:"),
        "{debug}"
    );
}

#[test]
fn cert_info_reports_subject_serial_and_validity() {
    let f = files();
    let now = OffsetDateTime::now_utc();
    let chain = crate::load_cert_chain(&f.path("server.pem")).unwrap();
    let info = crate::CertInfo::from_leaf(&f.path("server.pem"), &chain[0]).unwrap();
    assert_eq!(info.subject, "CN=rcgen self signed cert");
    assert_eq!(info.serial, "4201");
    assert!(info.is_valid_at(now));
    assert!(info.seconds_left(now) > 0);
    assert_eq!(info.identity, None);
    assert_eq!(
        info.clone().with_identity("partner").identity.as_deref(),
        Some("partner")
    );

    let chain = crate::load_cert_chain(&f.path("expired.pem")).unwrap();
    let info = crate::CertInfo::from_leaf(&f.path("expired.pem"), &chain[0]).unwrap();
    assert!(!info.is_valid_at(now));
    assert!(info.seconds_left(now) < 0);
    assert!(!info.is_valid_at(info.not_before - time::Duration::seconds(1)));
}

/// Moved from the gateway's TLS unit tests: the errors of building an inbound side.
#[test]
fn load_errors_name_the_file_and_cause() {
    let f = files();
    let mut t = server_params(&f, required(&f));
    t.key = f.path("client-key.pem");
    let err = crate::server_config(&t).unwrap_err();
    assert!(
        matches!(&err, BuildError::Pem(PemError::KeyMismatch { key, .. }) if key == &f.path("client-key.pem"))
    );

    std::fs::write(f.path("empty.pem"), "nothing\n").unwrap();
    let err = crate::server_config(&server_params(
        &f,
        ClientAuth::Required {
            ca: f.path("empty.pem"),
        },
    ))
    .unwrap_err();
    assert!(
        matches!(&err, BuildError::Pem(PemError::NoCertificates { kind: FileKind::Ca, path }) if path == &f.path("empty.pem"))
    );
    assert!(
        err.to_string()
            .contains("empty.pem contains no certificates")
    );

    let mut t = server_params(&f, ClientAuth::None);
    t.key = f.path("empty.pem");
    assert!(matches!(
        crate::server_config(&t),
        Err(BuildError::Pem(PemError::NoKey { .. }))
    ));
    t.cert = f.path("absent.pem");
    let err = crate::server_config(&t).unwrap_err();
    assert!(matches!(
        &err,
        BuildError::Pem(PemError::Read {
            kind: FileKind::Certificate,
            ..
        })
    ));
    assert!(err.to_string().contains("absent.pem"));

    std::fs::write(f.path("bad.pem"), BROKEN_CERT).unwrap();
    assert!(matches!(
        crate::load_root_store(&f.path("bad.pem")),
        Err(PemError::NotPem {
            kind: FileKind::Ca,
            ..
        })
    ));
}

#[test]
fn unreadable_files_name_their_kind_and_path() {
    let f = files();
    let missing = f.path("missing.pem");
    let errors = [
        (
            FileKind::Certificate,
            crate::load_cert_chain(&missing).unwrap_err(),
        ),
        (
            FileKind::PrivateKey,
            crate::load_private_key(&missing).map(drop).unwrap_err(),
        ),
        (
            FileKind::Ca,
            crate::load_root_store(&missing).map(drop).unwrap_err(),
        ),
        (
            FileKind::Crl,
            crate::load_crls(&missing).map(drop).unwrap_err(),
        ),
    ];
    for (want, err) in errors {
        assert!(
            matches!(&err, PemError::Read { kind, path, .. } if *kind == want && *path == missing),
            "{err:?}"
        );
        assert_eq!(
            text(&err),
            format!("cannot read {want} file {}", shown(&missing))
        );
        assert!(err.source().is_some(), "the io::Error is the source");
    }
    let key =
        crate::load_cert_and_key(&f.path("server.pem"), &missing, &crate::provider()).unwrap_err();
    assert_eq!(
        text(&key),
        format!("cannot read private key file {}", shown(&missing))
    );
}

#[test]
fn files_that_are_not_pem_name_their_kind_and_path() {
    let f = files();
    let cert = f.write("cert.pem", BROKEN_CERT);
    // No END line.
    let ca = f.write("ca-bundle.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let key = f.write(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
    );
    let crl = f.write(
        "crl.pem",
        "-----BEGIN X509 CRL-----\n!!!\n-----END X509 CRL-----\n",
    );
    let errors = [
        (
            FileKind::Certificate,
            &cert,
            crate::load_cert_chain(&cert).unwrap_err(),
        ),
        (
            FileKind::Ca,
            &ca,
            crate::load_root_store(&ca).map(drop).unwrap_err(),
        ),
        (
            FileKind::PrivateKey,
            &key,
            crate::load_private_key(&key).map(drop).unwrap_err(),
        ),
        (
            FileKind::Crl,
            &crl,
            crate::load_crls(&crl).map(drop).unwrap_err(),
        ),
    ];
    for (want, file, err) in errors {
        assert!(
            matches!(&err, PemError::NotPem { kind, path, .. } if *kind == want && path == file),
            "{err:?}"
        );
        assert_eq!(
            text(&err),
            format!("{want} file {} is not valid PEM", shown(file))
        );
        assert!(err.source().is_some(), "the PEM error is the source");
    }
}

#[test]
fn files_without_the_expected_block_say_so() {
    let f = files();
    let key_only = f.path("server-key.pem");
    let cert_only = f.path("server.pem");

    let err = crate::load_cert_chain(&key_only).unwrap_err();
    assert!(
        matches!(&err, PemError::NoCertificates { kind: FileKind::Certificate, path } if *path == key_only)
    );
    assert_eq!(
        text(&err),
        format!(
            "certificate file {} contains no certificates",
            shown(&key_only)
        )
    );

    let err = crate::load_root_store(&key_only).unwrap_err();
    assert!(matches!(
        &err,
        PemError::NoCertificates {
            kind: FileKind::Ca,
            ..
        }
    ));
    assert_eq!(
        text(&err),
        format!("CA file {} contains no certificates", shown(&key_only))
    );

    let err = crate::load_private_key(&cert_only).unwrap_err();
    assert!(matches!(&err, PemError::NoKey { path } if *path == cert_only));
    assert_eq!(
        text(&err),
        format!(
            "private key file {} contains no private key",
            shown(&cert_only)
        )
    );

    let err = crate::load_crls(&cert_only).unwrap_err();
    assert!(matches!(&err, PemError::NoCrl { path } if *path == cert_only));
    assert_eq!(
        text(&err),
        format!(
            "CRL file {} contains no certificate revocation list",
            shown(&cert_only)
        )
    );
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_files() {
    let f = files();
    let (cert, key) = (f.path("server.pem"), f.path("client-key.pem"));
    let err = crate::load_cert_and_key(&cert, &key, &crate::provider()).unwrap_err();
    assert!(
        matches!(&err, PemError::KeyMismatch { cert: c, key: k, .. } if *c == cert && *k == key),
        "{err:?}"
    );
    assert_eq!(
        text(&err),
        format!(
            "private key {} does not match certificate {} or is unusable",
            shown(&key),
            shown(&cert)
        )
    );
    assert!(err.source().is_some(), "the rustls error is the source");
}

#[test]
fn a_ca_bundle_with_a_junk_certificate_is_refused_with_its_position() {
    let f = files();
    let good = std::fs::read_to_string(f.path("ca.pem")).unwrap();
    let bundle = f.write("bundle.pem", format!("{good}{JUNK_CERT}"));
    let err = crate::load_root_store(&bundle).unwrap_err();
    assert!(
        matches!(&err, PemError::NotTrustAnchor { path, index: 2, .. } if *path == bundle),
        "{err:?}"
    );
    assert_eq!(
        text(&err),
        format!(
            "CA file {} holds a certificate that is not a usable trust anchor",
            shown(&bundle)
        )
    );
    assert!(err.source().is_some(), "the rustls error is the source");
}

#[test]
fn an_unparseable_leaf_is_refused() {
    let f = files();
    let junk = f.write("junk.pem", JUNK_CERT);
    let err =
        crate::load_cert_and_key(&junk, &f.path("server-key.pem"), &crate::provider()).unwrap_err();
    assert!(
        matches!(&err, PemError::UnparseableLeaf { path, .. } if *path == junk),
        "{err:?}"
    );
    assert_eq!(
        text(&err),
        format!(
            "certificate file {} holds an unparseable certificate",
            shown(&junk)
        )
    );
    assert!(err.source().is_some(), "the parse error is the source");
}

#[test]
fn system_roots_load_or_say_why_not() {
    match crate::system_roots() {
        Ok(roots) => assert!(!roots.is_empty()),
        Err(PemError::NoSystemRoots { details }) => {
            assert!(!details.is_empty());
            let err = PemError::NoSystemRoots { details };
            assert!(text(&err).starts_with("no usable certificate in the system trust store ("));
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn file_kinds_are_spelled_as_in_the_messages() {
    let kinds = [
        FileKind::Certificate,
        FileKind::PrivateKey,
        FileKind::Ca,
        FileKind::Crl,
    ];
    let names: Vec<String> = kinds.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["certificate", "private key", "CA", "CRL"]);
}
