//! The config builders, checked by handshakes between rustls connections in memory.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Error as RustlsError, PeerIncompatible,
    ProtocolVersion, ServerConfig, ServerConnection,
};
use rustls_pki_types::ServerName;

use super::{Files, files, required, server_params};
use crate::{ClientAuth, ClientTlsParams, TLS12_AND_13, TLS13_ONLY, TlsVersion};

/// Which side of a handshake gave up, and why.
#[derive(Debug)]
pub(super) enum Refused {
    Server(RustlsError),
    Client(RustlsError),
}

/// Moves every pending TLS record of `from` into `to`.
fn pump(from: &mut dyn FnMut(&mut Vec<u8>) -> bool, to: &mut dyn FnMut(&mut &[u8])) {
    let mut buf = Vec::new();
    while from(&mut buf) {}
    let mut rest = &buf[..];
    while !rest.is_empty() {
        to(&mut rest);
    }
}

/// Runs one handshake between `server` and `client` (for `localhost`) in memory; returns the
/// server connection once both sides are done.
pub(super) fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> Result<ServerConnection, Refused> {
    let mut server = ServerConnection::new(server).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(client, name).unwrap();
    for _ in 0..10 {
        pump(
            &mut |buf| client.wants_write() && client.write_tls(buf).unwrap() > 0,
            &mut |rest| {
                server.read_tls(rest).unwrap();
            },
        );
        server.process_new_packets().map_err(Refused::Server)?;
        pump(
            &mut |buf| server.wants_write() && server.write_tls(buf).unwrap() > 0,
            &mut |rest| {
                client.read_tls(rest).unwrap();
            },
        );
        client.process_new_packets().map_err(Refused::Client)?;
        if !server.is_handshaking() && !client.is_handshaking() {
            return Ok(server);
        }
    }
    panic!("the handshake did not finish");
}

/// The client certificate `name.pem`/`name-key.pem`, always sent when asked for.
pub(super) fn presenting(f: &Files, name: &str) -> Arc<dyn ResolvesClientCert> {
    let loaded = crate::load_cert_and_key(
        &f.path(&format!("{name}.pem")),
        &f.path(&format!("{name}-key.pem")),
        &crate::provider(),
    )
    .unwrap();
    let key = CertifiedKey::from_der(loaded.chain, loaded.key, &crate::provider()).unwrap();
    Arc::new(SingleCertAndKey::from(key))
}

pub(super) fn client(f: &Files, min_version: TlsVersion, cert: Option<&str>) -> Arc<ClientConfig> {
    let config = crate::client_config(ClientTlsParams {
        roots: crate::load_root_store(&f.path("ca.pem")).unwrap(),
        min_version,
        client_cert: cert.map(|name| presenting(f, name)),
    })
    .unwrap();
    Arc::new(config)
}

fn server(f: &Files, client_auth: ClientAuth, min_version: TlsVersion) -> Arc<ServerConfig> {
    let mut params = server_params(f, client_auth);
    params.min_version = min_version;
    Arc::new(crate::server_config(&params).unwrap().0)
}

/// A config made by rustls directly that speaks TLS 1.2 only.
fn tls12_only_client(f: &Files) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(crate::load_root_store(&f.path("ca.pem")).unwrap())
        .with_no_client_auth();
    Arc::new(config)
}

fn peer_certs(server: &ServerConnection) -> usize {
    server.peer_certificates().map_or(0, <[_]>::len)
}

#[test]
fn required_client_auth_refuses_a_handshake_without_a_certificate() {
    let f = files();
    let result = handshake(
        server(&f, required(&f), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, None),
    );
    assert!(
        matches!(
            result,
            Err(Refused::Server(RustlsError::NoCertificatesPresented))
        ),
        "{result:?}"
    );
}

#[test]
fn required_client_auth_accepts_a_certificate_of_the_ca_only() {
    let f = files();
    let accepted = handshake(
        server(&f, required(&f), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, Some("client")),
    )
    .unwrap();
    assert_eq!(peer_certs(&accepted), 1);
    assert_eq!(accepted.protocol_version(), Some(ProtocolVersion::TLSv1_3));

    let result = handshake(
        server(&f, required(&f), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, Some("stranger")),
    );
    assert!(
        matches!(
            result,
            Err(Refused::Server(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer
            )))
        ),
        "{result:?}"
    );
    let result = handshake(
        server(&f, required(&f), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, Some("expired")),
    );
    assert!(
        matches!(
            result,
            Err(Refused::Server(RustlsError::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )))
        ),
        "{result:?}"
    );
}

#[test]
fn optional_client_auth_accepts_no_certificate_but_not_a_bad_one() {
    let f = files();
    let optional = || ClientAuth::Optional {
        ca: f.path("ca.pem"),
    };
    let accepted = handshake(
        server(&f, optional(), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, None),
    )
    .unwrap();
    assert_eq!(peer_certs(&accepted), 0);
    let accepted = handshake(
        server(&f, optional(), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, Some("client")),
    )
    .unwrap();
    assert_eq!(peer_certs(&accepted), 1);
    let result = handshake(
        server(&f, optional(), TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, Some("stranger")),
    );
    assert!(matches!(result, Err(Refused::Server(_))), "{result:?}");
}

#[test]
fn no_client_auth_asks_for_no_certificate() {
    let f = files();
    let accepted = handshake(
        server(&f, ClientAuth::None, TlsVersion::Tls12),
        client(&f, TlsVersion::Tls12, Some("client")),
    )
    .unwrap();
    assert_eq!(peer_certs(&accepted), 0);
}

#[test]
fn the_minimum_version_is_enforced_on_both_sides() {
    let f = files();
    // A TLS 1.3 server refuses a TLS 1.2-only client.
    let result = handshake(
        server(&f, ClientAuth::None, TlsVersion::Tls13),
        tls12_only_client(&f),
    );
    assert!(
        matches!(
            result,
            Err(Refused::Server(RustlsError::PeerIncompatible(
                PeerIncompatible::Tls12NotOfferedOrEnabled
            )))
        ),
        "{result:?}"
    );
    // A TLS 1.2 floor still talks to it, over TLS 1.2.
    let accepted = handshake(
        server(&f, ClientAuth::None, TlsVersion::Tls12),
        tls12_only_client(&f),
    )
    .unwrap();
    assert_eq!(accepted.protocol_version(), Some(ProtocolVersion::TLSv1_2));

    // A TLS 1.3 client refuses a TLS 1.2-only server.
    let tls12_server = {
        // Made by rustls directly, with the certificate of a server we built.
        let (built, _) = crate::server_config(&server_params(&f, ClientAuth::None)).unwrap();
        let config = ServerConfig::builder_with_provider(crate::provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(built.cert_resolver.clone());
        Arc::new(config)
    };
    let result = handshake(tls12_server, client(&f, TlsVersion::Tls13, None));
    assert!(
        matches!(
            result,
            Err(Refused::Server(RustlsError::PeerIncompatible(
                PeerIncompatible::Tls12NotOfferedOrEnabled
            )))
        ),
        "{result:?}"
    );
}

#[test]
fn version_floors_map_onto_the_version_tables() {
    assert!(std::ptr::eq(
        TlsVersion::Tls13.protocol_versions(),
        TLS13_ONLY
    ));
    assert!(std::ptr::eq(
        TlsVersion::Tls12.protocol_versions(),
        TLS12_AND_13
    ));
    assert_eq!(TlsVersion::default(), TlsVersion::Tls12);
    let versions: Vec<_> = TLS12_AND_13.iter().map(|v| v.version).collect();
    assert_eq!(
        versions,
        [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
    );
    let versions: Vec<_> = TLS13_ONLY.iter().map(|v| v.version).collect();
    assert_eq!(versions, [ProtocolVersion::TLSv1_3]);
}

#[test]
fn every_built_config_has_its_own_session_state() {
    let f = files();
    let params = server_params(&f, required(&f));
    let (a, _) = crate::server_config(&params).unwrap();
    let (b, _) = crate::server_config(&params).unwrap();
    assert!(!Arc::ptr_eq(&a.session_storage, &b.session_storage));
    assert!(!Arc::ptr_eq(&a.ticketer, &b.ticketer) || !a.ticketer.enabled());
}

#[test]
fn a_client_refuses_a_server_its_roots_do_not_trust() {
    let f = files();
    let config = crate::client_config(ClientTlsParams {
        roots: crate::load_root_store(&f.path("other-ca.pem")).unwrap(),
        min_version: TlsVersion::Tls12,
        client_cert: None,
    })
    .unwrap();
    let result = handshake(
        server(&f, ClientAuth::None, TlsVersion::Tls12),
        Arc::new(config),
    );
    assert!(
        matches!(
            result,
            Err(Refused::Client(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer
            )))
        ),
        "{result:?}"
    );
}

#[test]
fn a_client_without_a_resolver_sends_no_certificate() {
    let f = files();
    assert!(
        !client(&f, TlsVersion::Tls12, None)
            .client_auth_cert_resolver
            .has_certs()
    );
    assert!(
        client(&f, TlsVersion::Tls12, Some("client"))
            .client_auth_cert_resolver
            .has_certs()
    );
}

#[test]
fn verify_client_chain_runs_the_listeners_check_without_a_handshake() {
    let f = files();
    let now = rustls_pki_types::UnixTime::now();
    let chain = |name: &str| crate::load_cert_chain(&f.path(name)).unwrap();
    let ca = f.path("ca.pem");
    crate::verify_client_chain(&ca, &chain("client.pem"), now).unwrap();
    let refused = |name: &str| match crate::verify_client_chain(&ca, &chain(name), now) {
        Err(crate::ClientChainError::Refused(RustlsError::InvalidCertificate(e))) => e,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(refused("stranger.pem"), CertificateError::UnknownIssuer);
    assert!(
        matches!(
            refused("expired.pem"),
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        ),
        "expired.pem"
    );
    // A server certificate lacks the clientAuth usage, as in a handshake.
    assert!(crate::verify_client_chain(&ca, &chain("server.pem"), now).is_err());
    assert!(matches!(
        crate::verify_client_chain(&ca, &[], now),
        Err(crate::ClientChainError::Empty)
    ));
    let missing = crate::verify_client_chain(&f.path("missing.pem"), &chain("client.pem"), now)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.pem"), "{missing}");
}
