//! Session resumption of server configs: every cache entry ends at the session lifetime or
//! at the client certificate's notAfter, whichever comes first; and the TLS 1.2 suite order
//! is the server's. Handshakes between rustls connections in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mtls_test_support::pki::test_ca;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
use rustls::server::StoresServerSessions;
use rustls::{CipherSuite, ClientConfig, HandshakeKind, ServerConfig};
use time::OffsetDateTime;

use super::builders::{handshake, presenting};
use super::{Files, files, required, server_params};
use crate::ClientAuth;
use crate::session_cache::{ExpiringSessionCache, session_chain_not_after};

/// `short.pem`/`short-key.pem`: a client certificate of ca.pem valid until `not_after`.
/// Returns the notAfter as encoded (whole seconds).
fn short_lived_client(f: &Files, not_after: OffsetDateTime) -> OffsetDateTime {
    // files() keeps its CA's key to itself: make ca.pem a bundle with a second CA.
    let (issuer, pem) = test_ca("short-lived CA");
    let mut bundle = std::fs::read_to_string(f.path("ca.pem")).unwrap();
    bundle.push_str(&pem);
    f.write("ca.pem", bundle);
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let not_after = not_after.replace_nanosecond(0).unwrap();
    params.not_after = not_after;
    params.serial_number = Some(vec![0x42, 7].into());
    let key = KeyPair::generate().unwrap();
    f.write("short.pem", params.signed_by(&key, &issuer).unwrap().pem());
    f.write("short-key.pem", key.serialize_pem());
    not_after
}

/// A clock the test moves.
#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(OffsetDateTime::now_utc())))
    }

    fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }

    fn cache(&self, lifetime: Duration, require_client_cert: bool) -> ExpiringSessionCache {
        let clock = self.0.clone();
        ExpiringSessionCache::with_clock(
            lifetime,
            require_client_cert,
            Arc::new(move || *clock.lock().unwrap()),
        )
    }
}

/// A server requiring client certificates of ca.pem, on `cache`.
fn server_on(f: &Files, cache: ExpiringSessionCache) -> Arc<ServerConfig> {
    let params = server_params(f, required(f));
    let (mut config, _) = crate::server_config(&params).unwrap();
    config.session_storage = Arc::new(cache);
    Arc::new(config)
}

/// The two protocol versions resumption is tested on.
#[derive(Debug, Clone, Copy)]
enum Version {
    Tls12,
    Tls13,
}

const VERSIONS: [Version; 2] = [Version::Tls12, Version::Tls13];

/// A client speaking only `version`, presenting `cert` (`name.pem`) when asked.
fn client(f: &Files, version: Version, cert: Option<&str>) -> Arc<ClientConfig> {
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        Version::Tls12 => &[&rustls::version::TLS12],
        Version::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(crate::load_root_store(&f.path("ca.pem")).unwrap());
    Arc::new(match cert {
        Some(name) => builder.with_client_cert_resolver(presenting(f, name)),
        None => builder.with_no_client_auth(),
    })
}

fn kind(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> HandshakeKind {
    let conn = handshake(server.clone(), client.clone()).unwrap();
    conn.handshake_kind().unwrap()
}

#[test]
fn server_configs_install_the_expiring_cache_and_prefer_their_suite_order() {
    let f = files();
    for auth in [
        ClientAuth::None,
        ClientAuth::Optional {
            ca: f.path("ca.pem"),
        },
        required(&f),
    ] {
        let (config, _) = crate::server_config(&server_params(&f, auth)).unwrap();
        assert!(config.ignore_client_order);
        let storage = format!("{:?}", config.session_storage);
        assert!(storage.starts_with("ExpiringSessionCache"), "{storage}");
    }
    // A zero lifetime turns resumption off.
    let mut params = server_params(&f, required(&f));
    params.session_lifetime = Duration::ZERO;
    let (config, _) = crate::server_config(&params).unwrap();
    assert!(!config.session_storage.can_cache());
    assert_eq!(config.send_tls13_tickets, 0);
}

#[test]
fn tls12_picks_the_servers_first_suite_not_the_clients() {
    let f = files();
    let mut provider = crate::provider().as_ref().clone();
    // The client prefers AES-128; the aws-lc-rs provider lists AES-256 first.
    provider.cipher_suites = vec![
        rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ];
    let client = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(crate::load_root_store(&f.path("ca.pem")).unwrap())
        .with_no_client_auth();
    let (server, _) = crate::server_config(&server_params(&f, ClientAuth::None)).unwrap();
    let conn = handshake(Arc::new(server), Arc::new(client)).unwrap();
    assert_eq!(
        conn.negotiated_cipher_suite().unwrap().suite(),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
}

/// Records what rustls stores, passing it on.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn StoresServerSessions>,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl StoresServerSessions for Recorder {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.seen.lock().unwrap().push(value.clone());
        self.inner.put(key, value)
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }
    fn can_cache(&self) -> bool {
        true
    }
}

#[test]
fn the_client_chain_expiry_is_read_from_the_values_rustls_stores() {
    let f = files();
    let not_after = short_lived_client(&f, OffsetDateTime::now_utc() + time::Duration::days(2));
    for version in VERSIONS {
        for (auth, cert, expected) in [
            (required(&f), Some("short"), Some(not_after)),
            (ClientAuth::None, None, None),
        ] {
            let params = server_params(&f, auth);
            let (mut config, _) = crate::server_config(&params).unwrap();
            let recorder = Arc::new(Recorder {
                inner: rustls::server::ServerSessionMemoryCache::new(8),
                seen: Mutex::new(Vec::new()),
            });
            config.session_storage = recorder.clone();
            let client = client(&f, version, cert);
            let conn = handshake(Arc::new(config), client).unwrap();
            let expected_version = match version {
                Version::Tls12 => rustls::ProtocolVersion::TLSv1_2,
                Version::Tls13 => rustls::ProtocolVersion::TLSv1_3,
            };
            assert_eq!(conn.protocol_version(), Some(expected_version));
            let seen = recorder.seen.lock().unwrap();
            assert!(!seen.is_empty(), "{version:?}: nothing stored");
            for value in seen.iter() {
                assert_eq!(
                    session_chain_not_after(value),
                    Ok(expected),
                    "{version:?} {cert:?}"
                );
                // Anything cut short is an error, never a guess.
                for cut in 0..value.len().min(120) {
                    if expected.is_some() || cut < 10 {
                        assert!(
                            session_chain_not_after(&value[..cut]).is_err(),
                            "{version:?}: a value cut at {cut} read as valid"
                        );
                    }
                }
            }
        }
    }
    assert!(session_chain_not_after(b"garbage that is not a session").is_err());
}

#[test]
fn a_session_resumes_until_its_certificate_expires_and_not_after() {
    let f = files();
    let not_after = short_lived_client(&f, OffsetDateTime::now_utc() + time::Duration::days(2));
    for version in VERSIONS {
        let clock = TestClock::new();
        // A lifetime longer than the certificate: the certificate is the bound.
        let server = server_on(&f, clock.cache(Duration::from_secs(10 * 86_400), true));
        let client = client(&f, version, Some("short"));
        assert_eq!(kind(&server, &client), HandshakeKind::Full, "{version:?}");
        assert_eq!(
            kind(&server, &client),
            HandshakeKind::Resumed,
            "{version:?}"
        );
        // The last second of validity still resumes (each resumption stores a new entry on
        // TLS 1.3; TLS 1.2 reuses its session id).
        clock.set(not_after);
        assert_eq!(
            kind(&server, &client),
            HandshakeKind::Resumed,
            "{version:?}"
        );
        // Past notAfter no entry made for this certificate resumes, including those stored
        // by the resumptions just before: a full handshake (the real clock says the
        // certificate is still valid, so it succeeds).
        clock.set(not_after + time::Duration::milliseconds(1));
        assert_eq!(kind(&server, &client), HandshakeKind::Full, "{version:?}");
    }
}

#[test]
fn a_session_resumes_for_its_lifetime_only() {
    let f = files();
    short_lived_client(&f, OffsetDateTime::now_utc() + time::Duration::days(2));
    for version in VERSIONS {
        let clock = TestClock::new();
        let start = OffsetDateTime::now_utc();
        clock.set(start);
        let server = server_on(&f, clock.cache(Duration::from_secs(3600), true));
        let client = client(&f, version, Some("short"));
        assert_eq!(kind(&server, &client), HandshakeKind::Full);
        clock.set(start + time::Duration::minutes(59));
        assert_eq!(
            kind(&server, &client),
            HandshakeKind::Resumed,
            "{version:?}"
        );
        match version {
            // The resumption stored a fresh entry at minute 59 (new tickets), good for an
            // hour from then: each entry is bounded, and the certificate bounds them all.
            Version::Tls13 => {
                clock.set(start + time::Duration::minutes(118));
                assert_eq!(kind(&server, &client), HandshakeKind::Resumed);
            }
            // A resumed TLS 1.2 session stores nothing: the entry of minute 0 ends at 60.
            Version::Tls12 => {
                clock.set(start + time::Duration::minutes(61));
                assert_eq!(kind(&server, &client), HandshakeKind::Full);
            }
        }
        clock.set(start + time::Duration::minutes(240));
        assert_eq!(kind(&server, &client), HandshakeKind::Full, "{version:?}");
    }
}

#[test]
fn a_session_without_a_client_certificate_is_not_kept_where_one_is_required() {
    let f = files();
    let clock = TestClock::new();
    let cache = clock.cache(Duration::from_secs(3600), true);
    // A value with no client chain (as from a listener without client auth).
    let (mut config, _) = crate::server_config(&server_params(&f, ClientAuth::None)).unwrap();
    let recorder = Arc::new(Recorder {
        inner: rustls::server::ServerSessionMemoryCache::new(8),
        seen: Mutex::new(Vec::new()),
    });
    config.session_storage = recorder.clone();
    handshake(Arc::new(config), client(&f, Version::Tls13, None)).unwrap();
    let value = recorder.seen.lock().unwrap()[0].clone();
    assert!(!cache.put(b"id".to_vec(), value.clone()));
    let lenient = clock.cache(Duration::from_secs(3600), false);
    assert!(lenient.put(b"id".to_vec(), value.clone()));
    assert_eq!(lenient.get(b"id"), Some(value));
}
