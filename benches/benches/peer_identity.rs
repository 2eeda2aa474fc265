//! Peer identity extraction, once per accepted mTLS connection: a tenant client certificate
//! issued by `mtls-ca` (ECDSA P-256, SPIFFE URI SAN `spiffe://<domain>/tenant/<id>`, behind
//! an intermediate) turned into a [`PeerIdentity`].
//!
//! - `from_der`: [`PeerIdentity::from_der`], the whole step (DER parse, names, SANs, serial,
//!   validity, SHA-256 fingerprint, tenant from the URI SAN);
//! - `from_parsed`: [`PeerIdentity::from_parsed`] on a certificate parsed once outside the
//!   loop, so `from_der - from_parsed` is the cost of one x509 parse;
//! - `x509_parse`: that parse alone;
//! - `fingerprint`: [`Fingerprint::of_der`] alone (one SHA-256 over the DER).
//!
//! Each extra parse or hash the connection path makes costs one `x509_parse` or one
//! `fingerprint`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest, KeyAlgorithm};
use mtls_identity::{Fingerprint, PeerIdentity, TenantId, TrustDomain};
use x509_parser::prelude::{FromDer, X509Certificate};

fn client_cert(domain: &TrustDomain, tenant: &TenantId) -> Vec<u8> {
    let ca = CertificateAuthority::generate(&CaConfig {
        common_name: "bench root CA".into(),
        algorithm: KeyAlgorithm::EcdsaP256,
        intermediate: true,
        ..CaConfig::default()
    })
    .expect("generate CA");
    let mut req = ClientCertRequest::new(domain.clone(), tenant.clone(), "Acme Corp");
    req.key_algorithm = KeyAlgorithm::EcdsaP256;
    ca.issue_client(&req).expect("issue").cert_der
}

fn bench(c: &mut Criterion) {
    let domain: TrustDomain = "proxy.example.com".parse().expect("trust domain");
    let tenant: TenantId = "acme".parse().expect("tenant id");
    let der = client_cert(&domain, &tenant);
    let identity = PeerIdentity::from_der(&der, Some(&domain)).expect("identity");
    assert_eq!(identity.tenant.as_ref(), Some(&tenant));
    let (_, parsed) = X509Certificate::from_der(&der).expect("parse");

    let mut group = c.benchmark_group("peer_identity");
    group.throughput(Throughput::Elements(1));
    group.bench_function("from_der", |b| {
        b.iter(|| PeerIdentity::from_der(black_box(&der), Some(&domain)).expect("identity"))
    });
    group.bench_function("from_parsed", |b| {
        b.iter(|| {
            PeerIdentity::from_parsed(black_box(&parsed), black_box(&der), Some(&domain))
                .expect("identity")
        })
    });
    group.bench_function("x509_parse", |b| {
        b.iter(|| X509Certificate::from_der(black_box(&der)).expect("parse").1)
    });
    group.bench_function("fingerprint", |b| {
        b.iter(|| Fingerprint::of_der(black_box(&der)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
