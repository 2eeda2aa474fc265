//! One client-certificate selection by `mtls-resolver`, as rustls makes it once per
//! handshake that asks for a client certificate.
//!
//! The resolver holds 1, 100 or 10,000 identities, each issued by its own CA
//! (`CN=Partner CA nnnnn`); the server names one CA, that of the identity in the middle.
//!
//! - `exact/<n>`: the CA name arrives byte-equal to the identity's issuer (the common case:
//!   one hash lookup);
//! - `reencoded/<n>`: the same name arrives as `PrintableString` instead of `UTF8String`, so
//!   the raw lookup misses and the name is parsed and normalised before the second lookup;
//! - `unknown/<n>`: a CA name no identity answers to, with `Fallback::None`.
//!
//! Throughput is in selections per second. Flat numbers across sizes are the point: the CA
//! names are indexed when the identity set is built.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mtls_resolver::{Fallback, Identity, MultiIdentityResolver};
use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const SIZES: [usize; 3] = [1, 100, 10_000];

/// What a rustls 0.23 server typically offers for client signatures.
const SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA512,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA256,
];

fn ca_name(i: usize) -> String {
    format!("Partner CA {i:05}")
}

/// DER `Name` with a single CN attribute of the given string type.
fn cn_name(string_tag: u8, cn: &str) -> Vec<u8> {
    let tlv = |tag: u8, content: &[u8]| {
        let mut out = vec![tag, u8::try_from(content.len()).expect("short name")];
        out.extend_from_slice(content);
        out
    };
    let mut atv = tlv(0x06, &[0x55, 0x04, 0x03]);
    atv.extend(tlv(string_tag, cn.as_bytes()));
    tlv(0x30, &tlv(0x31, &tlv(0x30, &atv)))
}

/// `n` identities sharing one leaf key, identity `i` issued by `CN=Partner CA i`. (Issuer
/// signatures are not checked by the resolver, so one CA key signs for all names.)
fn resolver(n: usize) -> MultiIdentityResolver {
    let ca_key = KeyPair::generate().expect("CA key");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let signing_key = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            leaf_key.serialize_der(),
        )))
        .expect("load leaf key");
    let identities = (0..n).map(|i| {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name.push(DnType::CommonName, ca_name(i));
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca, &ca_key);
        let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        leaf.distinguished_name
            .push(DnType::CommonName, format!("client {i:05}"));
        let cert = leaf.signed_by(&leaf_key, &issuer).expect("sign leaf");
        Identity::new(
            format!("partner-{i:05}"),
            vec![cert.der().clone()],
            Arc::clone(&signing_key),
        )
        .expect("identity")
    });
    MultiIdentityResolver::builder()
        .identities(identities)
        .fallback(Fallback::None)
        .build()
        .expect("resolver")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolver_select");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let resolver = resolver(n);
        let middle = n / 2;
        let exact = cn_name(0x0c, &ca_name(middle));
        let reencoded = cn_name(0x13, &ca_name(middle));
        let unknown = cn_name(0x0c, "Nobody's CA");
        // Check each case does what it claims before timing it.
        let expected = format!("partner-{middle:05}");
        for hint in [&exact, &reencoded] {
            let chosen = resolver.explain(&[hint], SCHEMES, None).identity;
            assert_eq!(chosen.as_deref(), Some(expected.as_str()));
        }
        assert!(resolver.resolve(&[&unknown], SCHEMES).is_none());

        for (case, hint) in [
            ("exact", &exact),
            ("reencoded", &reencoded),
            ("unknown", &unknown),
        ] {
            group.bench_with_input(BenchmarkId::new(case, n), hint, |b, hint| {
                let hints = [hint.as_slice()];
                b.iter(|| resolver.resolve(black_box(&hints), black_box(SCHEMES)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
