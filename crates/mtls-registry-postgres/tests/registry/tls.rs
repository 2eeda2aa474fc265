//! TLS to the server: `sslmode=verify-full` with `sslrootcert` reaches a server whose
//! certificate chains to that CA (the store and the change listener both), a server whose
//! certificate does not is refused, and a role the server only admits over TLS proves the
//! connection really was encrypted.

use std::sync::mpsc;
use std::time::Duration;

use mtls_registry::Store;
use mtls_registry_conformance::{actor, domain, tid};
use mtls_registry_postgres::{ChangeListener, ListenEvent, PostgresStore};
use mtls_test_postgres::{PgServer, TLS_ONLY_ROLE};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

/// A CA (PEM) and a server certificate chain + key for 127.0.0.1 and localhost, signed by it.
fn server_pki() -> (String, String, String) {
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "registry test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "registry");
    leaf.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

#[test]
fn verify_full_reaches_the_server_over_tls_and_refuses_another_ca() {
    let (ca, cert, key) = server_pki();
    let server = PgServer::start_with_tls(&cert, &key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let plain = server.database();
    let db = plain.rsplit('/').next().unwrap().split('?').next().unwrap();
    PgServer::client(&plain)
        .batch_execute(&format!(
            "CREATE ROLE {TLS_ONLY_ROLE} LOGIN SUPERUSER; ALTER DATABASE {db} OWNER TO {TLS_ONLY_ROLE}"
        ))
        .unwrap();
    let url = |mode: &str, root: &std::path::Path| {
        format!(
            "postgres://{TLS_ONLY_ROLE}@127.0.0.1:{}/{db}?sslmode={mode}&sslrootcert={}&connect_timeout=10",
            server.port(),
            root.display()
        )
    };

    // The role is refused without TLS: the server's rule is in force...
    let err = PostgresStore::create(&url("disable", &ca_file), &domain(), &actor())
        .expect_err("a plain connection as the TLS-only role");
    assert!(format!("{err:?}").contains("pg_hba"), "{err:?}");

    // ...and admitted over verified TLS, by the store and by the change listener.
    let tls_url = url("verify-full", &ca_file);
    let store = PostgresStore::create(&tls_url, &domain(), &actor()).unwrap();
    let (tx, rx) = mpsc::channel();
    let _listener = ChangeListener::start(&tls_url, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        ListenEvent::Connected
    );
    store
        .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        .unwrap();
    let version = Store::version(&store).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(2)).unwrap(),
        ListenEvent::Changed(version)
    );

    // A CA the server's certificate does not chain to: refused, whatever the mode.
    let (other_ca, _, _) = server_pki();
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, &other_ca).unwrap();
    for mode in ["require", "verify-full"] {
        let err = PostgresStore::open(&url(mode, &other_file))
            .expect_err("a server certificate from another CA");
        let text = format!("{err:?}");
        assert!(
            text.to_lowercase().contains("certificate"),
            "{mode}: {text}"
        );
        assert!(
            !err.is_busy(),
            "a bad certificate is not worth waiting for: {text}"
        );
    }
}
