//! The CA names an upstream sends in its CertificateRequest, fed to
//! `mtls_resolver::MultiIdentityResolver` (two identities from `fixtures/`: an ECDSA one under
//! "Acme Client CA", an RSA one under a multi-valued-RDN "Globex Partner CA").
//!
//! Input: byte 0 picks the signature schemes the server offers (a bit mask), byte 1 the
//! server name (none, or one of two), the rest is the `certificate_authorities` list as on the
//! wire: 2-byte big-endian length, then that many bytes of DER `Name` (a short last entry
//! takes what is left).
//!
//! Asserts, beyond "no panic": the decision is deterministic (`explain` twice gives the same
//! answer), does not depend on the order of the names (configuration order wins, as
//! documented), agrees with what rustls' `resolve()` would send, names only configured
//! identities, and reports one entry per name sent.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mtls_resolver::{Identity, MultiIdentityResolver};
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const SCHEMES: [SignatureScheme; 5] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::ED25519,
    SignatureScheme::ECDSA_NISTP384_SHA384,
];
const SERVER_NAMES: [Option<&str>; 3] = [None, Some("api.acme.test"), Some("x.globex.test")];

fn identity(name: &str, leaf: &[u8], ca: &[u8], key: &[u8]) -> Identity {
    let chain = vec![
        CertificateDer::from(leaf.to_vec()),
        CertificateDer::from(ca.to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    Identity::from_der(name, chain, key, &provider).expect("fixture identity")
}

fn resolver() -> &'static MultiIdentityResolver {
    static RESOLVER: OnceLock<MultiIdentityResolver> = OnceLock::new();
    RESOLVER.get_or_init(|| {
        MultiIdentityResolver::new([
            identity(
                "acme",
                include_bytes!("../fixtures/acme.der"),
                include_bytes!("../fixtures/acme-ca.der"),
                include_bytes!("../fixtures/acme-key.der"),
            ),
            identity(
                "globex",
                include_bytes!("../fixtures/globex.der"),
                include_bytes!("../fixtures/globex-ca.der"),
                include_bytes!("../fixtures/globex-key.der"),
            ),
        ])
        .expect("fixture resolver")
    })
}

/// The `certificate_authorities` list: u16 length-prefixed entries.
fn ca_names(mut data: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = len.min(rest.len());
        names.push(&rest[..take]);
        data = &rest[take..];
    }
    names
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let schemes: Vec<SignatureScheme> = SCHEMES
        .iter()
        .enumerate()
        .filter(|(i, _)| data[0] & (1 << i) != 0)
        .map(|(_, s)| *s)
        .collect();
    let server_name = SERVER_NAMES[usize::from(data[1]) % SERVER_NAMES.len()];
    let names = ca_names(&data[2..]);
    let resolver = resolver();

    let first = resolver.explain(&names, &schemes, server_name);
    let again = resolver.explain(&names, &schemes, server_name);
    assert_eq!(first, again, "explain is not deterministic");
    assert_eq!(first.ca_names.len(), names.len());
    let _ = first.to_string();

    let mut reversed = names.clone();
    reversed.reverse();
    let other_order = resolver.explain(&reversed, &schemes, server_name);
    assert_eq!(
        first.identity, other_order.identity,
        "the order of the CA names changed the identity"
    );

    let identities = resolver.identities();
    if let Some(chosen) = &first.identity {
        assert!(
            identities.iter().any(|i| i.name() == chosen),
            "explain named an identity that is not configured: {chosen}"
        );
    }

    // What rustls would actually send must be what explain says.
    let sent = match server_name {
        Some(name) => {
            let view: Arc<dyn ResolvesClientCert> = Arc::new(resolver.for_server_name(name));
            view.resolve(&names, &schemes)
        }
        None => resolver.resolve(&names, &schemes),
    };
    let sent_leaf = sent.as_ref().map(|key| key.cert[0].as_ref().to_vec());
    let explained_leaf = first.identity.as_ref().map(|name| {
        identities
            .iter()
            .find(|i| i.name() == name)
            .expect("configured")
            .chain()[0]
            .as_ref()
            .to_vec()
    });
    assert_eq!(
        sent_leaf, explained_leaf,
        "resolve() and explain() disagree"
    );
});
