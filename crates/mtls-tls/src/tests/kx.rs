//! Key exchange and suite order: every config built here offers the hybrid post-quantum
//! group X25519MLKEM768 first, plain X25519 still works, and TLS 1.3 prefers
//! AES-128-GCM-SHA256. Handshakes in memory.

use std::sync::Arc;

use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::kx_group::{SECP256R1, X25519, X25519MLKEM768};
use rustls::{ClientConfig, NamedGroup};

use super::builders::{client, handshake, presenting};
use super::{Files, files, required, server_params};
use crate::TlsVersion;

/// A TLS 1.3 client presenting client.pem that offers only `groups`.
fn offering(f: &Files, groups: &[&'static dyn SupportedKxGroup]) -> Arc<ClientConfig> {
    let mut provider = crate::provider().as_ref().clone();
    provider.kx_groups = groups.to_vec();
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(crate::TLS13_ONLY)
        .unwrap()
        .with_root_certificates(crate::load_root_store(&f.path("ca.pem")).unwrap())
        .with_client_cert_resolver(presenting(f, "client"));
    Arc::new(config)
}

fn server(f: &Files) -> Arc<rustls::ServerConfig> {
    Arc::new(
        crate::server_config(&server_params(f, required(f)))
            .unwrap()
            .0,
    )
}

#[test]
fn the_provider_prefers_the_hybrid_post_quantum_group() {
    let names: Vec<NamedGroup> = crate::provider()
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    assert_eq!(
        names.first(),
        Some(&NamedGroup::X25519MLKEM768),
        "{names:?}"
    );
    assert!(names.contains(&NamedGroup::X25519), "{names:?}");
}

#[test]
fn a_client_offering_only_x25519mlkem768_connects() {
    let f = files();
    let conn = handshake(server(&f), offering(&f, &[X25519MLKEM768])).unwrap();
    assert_eq!(
        conn.negotiated_key_exchange_group().map(|g| g.name()),
        Some(NamedGroup::X25519MLKEM768)
    );
    assert!(conn.peer_certificates().is_some());
}

#[test]
fn classic_only_clients_still_connect() {
    let f = files();
    for (group, name) in [
        (X25519, NamedGroup::X25519),
        (SECP256R1, NamedGroup::secp256r1),
    ] {
        let conn = handshake(server(&f), offering(&f, &[group])).unwrap();
        assert_eq!(
            conn.negotiated_key_exchange_group().map(|g| g.name()),
            Some(name)
        );
    }
}

#[test]
fn our_own_clients_and_servers_agree_on_the_hybrid_group() {
    let f = files();
    for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
        let conn = handshake(server(&f), client(&f, version, Some("client"))).unwrap();
        assert_eq!(
            conn.negotiated_key_exchange_group().map(|g| g.name()),
            Some(NamedGroup::X25519MLKEM768),
            "{version:?}"
        );
    }
}

#[test]
fn tls13_prefers_aes128_gcm_sha256_and_tls12_keeps_its_order() {
    use rustls::CipherSuite;
    let suites: Vec<CipherSuite> = crate::provider()
        .cipher_suites
        .iter()
        .map(|s| s.suite())
        .collect();
    assert_eq!(
        suites[0],
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "{suites:?}"
    );
    let first12 = suites
        .iter()
        .position(|s| format!("{s:?}").starts_with("TLS_ECDHE"))
        .unwrap();
    assert!(
        suites[..first12]
            .iter()
            .all(|s| format!("{s:?}").starts_with("TLS13_")),
        "{suites:?}"
    );
    assert_eq!(
        suites[first12],
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "{suites:?}"
    );
    // A TLS 1.3 client preferring AES-256 gets the server's AES-128.
    let f = files();
    let mut provider = crate::provider().as_ref().clone();
    provider.cipher_suites = vec![
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ];
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(crate::TLS13_ONLY)
        .unwrap()
        .with_root_certificates(crate::load_root_store(&f.path("ca.pem")).unwrap())
        .with_client_cert_resolver(presenting(&f, "client"));
    let conn = handshake(server(&f), Arc::new(config)).unwrap();
    assert_eq!(
        conn.negotiated_cipher_suite().unwrap().suite(),
        CipherSuite::TLS13_AES_128_GCM_SHA256
    );
}
