//! The verified-chain cache: a returning client's chain is not verified again, but its
//! CertificateVerify signature is; a chain differing in one byte, an entry past its
//! certificate's validity and a cleared or rebuilt cache are verified in full.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error, HandshakeKind,
    SignatureScheme,
};

use super::builders::{Refused, client, handshake};
use super::{Files, files, required, server_params};
use crate::chain_cache::CachingVerifier;
use crate::{TlsVersion, VerifiedChainCache};

/// Counts the chain checks that reach the real verifier.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ClientCertVerifier>,
    chain_checks: AtomicUsize,
}

impl ClientCertVerifier for Counting {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.chain_checks.fetch_add(1, Ordering::SeqCst);
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// ca.pem's verifier behind a counter, behind a cache of `capacity`.
fn caching(
    f: &Files,
    capacity: usize,
) -> (CachingVerifier, Arc<Counting>, Arc<VerifiedChainCache>) {
    let inner =
        crate::server::client_verifier(&f.path("ca.pem"), false, &crate::provider()).unwrap();
    let counting = Arc::new(Counting {
        inner,
        chain_checks: AtomicUsize::new(0),
    });
    let cache = VerifiedChainCache::new(capacity).unwrap();
    let verifier = CachingVerifier::new(counting.clone(), cache.clone());
    (verifier, counting, cache)
}

fn chain(f: &Files, name: &str) -> Vec<CertificateDer<'static>> {
    crate::load_cert_chain(&f.path(name)).unwrap()
}

fn at(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(secs).unwrap()))
}

fn validity(der: &[u8]) -> (i64, i64) {
    let (nb, na) = mtls_identity::validity_of_der(der).unwrap();
    (nb.unix_timestamp(), na.unix_timestamp())
}

/// A fresh client (no session to resume) presenting `name.pem`, TLS 1.3.
fn fresh_client(f: &Files, name: &str) -> Arc<ClientConfig> {
    client(f, TlsVersion::Tls13, Some(name))
}

#[test]
fn a_returning_client_skips_the_chain_check_but_never_its_signature() {
    let f = files();
    let built = crate::build_server_config(&server_params(&f, required(&f))).unwrap();
    let cache = built.verified_chains.clone().expect("a cache by default");
    let server = Arc::new(built.config);
    for round in 1..=3u64 {
        let conn = handshake(server.clone(), fresh_client(&f, "client")).unwrap();
        assert_eq!(conn.handshake_kind(), Some(HandshakeKind::Full));
        assert_eq!((cache.misses(), cache.hits()), (1, round - 1));
    }
    assert_eq!(cache.len(), 1);

    // The cached certificate with a key that is not its own: the CertificateVerify
    // signature is still checked, so the handshake fails.
    let provider = crate::provider();
    let wrong_key = crate::load_private_key(&f.path("stranger-key.pem")).unwrap();
    let signer = provider.key_provider.load_private_key(wrong_key).unwrap();
    let impostor = CertifiedKey::new(chain(&f, "client.pem"), signer);
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(crate::TLS13_ONLY)
        .unwrap()
        .with_root_certificates(crate::load_root_store(&f.path("ca.pem")).unwrap())
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(impostor)));
    match handshake(server.clone(), Arc::new(config)) {
        Err(Refused::Server(Error::InvalidCertificate(CertificateError::BadSignature))) => {}
        other => panic!("an impostor got {other:?}"),
    }
    assert_eq!(cache.hits(), 3, "the impostor's chain itself was a hit");

    // Off: nothing is cached.
    let mut params = server_params(&f, required(&f));
    params.verified_chain_cache = 0;
    assert!(
        crate::build_server_config(&params)
            .unwrap()
            .verified_chains
            .is_none()
    );
    let mut params = server_params(&f, crate::ClientAuth::None);
    params.verified_chain_cache = 10;
    assert!(
        crate::build_server_config(&params)
            .unwrap()
            .verified_chains
            .is_none()
    );
}

#[test]
fn only_the_exact_bytes_of_an_accepted_chain_hit() {
    let f = files();
    let (verifier, counting, cache) = caching(&f, 16);
    let good = chain(&f, "client.pem");
    let now = UnixTime::now();
    verifier.verify_client_cert(&good[0], &[], now).unwrap();
    verifier.verify_client_cert(&good[0], &[], now).unwrap();
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 1);

    // One byte of the signature changed: verified in full, and refused.
    let mut tampered = good[0].to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let tampered = CertificateDer::from(tampered);
    assert!(verifier.verify_client_cert(&tampered, &[], now).is_err());
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 2);

    // The same leaf with an extra certificate after it is another chain: verified in full
    // (webpki accepts it: the extra certificate is not on the path) and cached on its own.
    let extra = chain(&f, "server.pem");
    verifier.verify_client_cert(&good[0], &extra, now).unwrap();
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 3);
    assert_eq!(cache.len(), 2);

    // A certificate of another CA is refused, and never cached.
    let stranger = chain(&f, "stranger.pem");
    for _ in 0..2 {
        assert!(verifier.verify_client_cert(&stranger[0], &[], now).is_err());
    }
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 5);
    assert_eq!(cache.len(), 2);
}

#[test]
fn an_entry_is_never_used_outside_the_certificates_validity() {
    let f = files();
    let (verifier, counting, cache) = caching(&f, 16);
    let good = chain(&f, "client.pem");
    let (not_before, not_after) = validity(&good[0]);
    verifier
        .verify_client_cert(&good[0], &[], UnixTime::now())
        .unwrap();
    // Both ends are inside the period (as webpki has them): hits.
    verifier
        .verify_client_cert(&good[0], &[], at(not_after))
        .unwrap();
    verifier
        .verify_client_cert(&good[0], &[], at(not_before))
        .unwrap();
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 1);

    // Before notBefore: the full check runs, and refuses; the entry stays for later.
    match verifier.verify_client_cert(&good[0], &[], at(not_before - 1)) {
        Err(Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        )) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 2);
    assert_eq!(cache.len(), 1);

    // After notAfter: the full check runs and refuses, and the entry is gone for good.
    match verifier.verify_client_cert(&good[0], &[], at(not_after + 1)) {
        Err(Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 3);
    assert_eq!(cache.len(), 0);

    // An expired certificate is never cached in the first place.
    let expired = chain(&f, "expired.pem");
    for _ in 0..2 {
        assert!(
            verifier
                .verify_client_cert(&expired[0], &[], UnixTime::now())
                .is_err()
        );
    }
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 5);
    assert_eq!(cache.len(), 0);
}

#[test]
fn clearing_or_rebuilding_forgets_every_chain() {
    let f = files();
    let (verifier, counting, cache) = caching(&f, 16);
    let good = chain(&f, "client.pem");
    let now = UnixTime::now();
    verifier.verify_client_cert(&good[0], &[], now).unwrap();
    cache.clear();
    assert!(cache.is_empty());
    verifier.verify_client_cert(&good[0], &[], now).unwrap();
    assert_eq!(counting.chain_checks.load(Ordering::SeqCst), 2);

    // A reload builds a new config: its cache is a new, empty one.
    let params = server_params(&f, required(&f));
    let first = crate::build_server_config(&params).unwrap();
    handshake(Arc::new(first.config), fresh_client(&f, "client")).unwrap();
    let old = first.verified_chains.unwrap();
    assert_eq!(old.len(), 1);
    let second = crate::build_server_config(&params).unwrap();
    let new = second.verified_chains.unwrap();
    assert!(!Arc::ptr_eq(&old, &new));
    assert!(new.is_empty());
    handshake(Arc::new(second.config), fresh_client(&f, "client")).unwrap();
    assert_eq!((new.misses(), new.hits()), (1, 0));
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let f = files();
    let (verifier, _, cache) = caching(&f, 8);
    assert_eq!(cache.capacity(), 8);
    let good = chain(&f, "client.pem");
    let now = UnixTime::now();
    verifier.verify_client_cert(&good[0], &[], now).unwrap();
    // Chains the verifier accepts, all different: the leaf plus a varying extra certificate
    // that webpki ignores (it is not on the path).
    let (issuer, _) = mtls_test_support::pki::test_ca("filler CA");
    for i in 0..64u8 {
        let mut params = rcgen::CertificateParams::new(vec![format!("n{i}.test")]).unwrap();
        params.serial_number = Some(vec![1, i].into());
        let key = rcgen::KeyPair::generate().unwrap();
        let extra = params.signed_by(&key, &issuer).unwrap().der().clone();
        verifier
            .verify_client_cert(&good[0], &[extra], now)
            .unwrap();
        assert!(cache.len() <= cache.capacity(), "{}", cache.len());
    }
}
