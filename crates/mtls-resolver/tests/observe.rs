//! Observability: `explain`, reason labels, and `Debug` output that never shows keys.

mod support;

use std::sync::Arc;

use mtls_resolver::{Identity, MultiIdentityResolver, Reason};
use rustls::SignatureScheme;
use support::{Ca, Recorder};

const ECDSA: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA256,
];
const RSA_ONLY: &[SignatureScheme] = &[
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA256,
];

#[test]
fn explain_shows_the_working() {
    let (ca1, ca2, other) = (Ca::root("CA 1"), Ca::root("CA 2"), Ca::root("Other"));
    let a = ca1.identity("a", &[]);
    let b = ca2.identity("b", &[]);
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([a, b])
        .observer(recorder.clone())
        .build()
        .unwrap();
    let (h2, ho) = (ca2.subject_der(), other.subject_der());
    let explanation = resolver.explain(&[&ho, &h2], ECDSA, Some("api.example"));
    assert_eq!(explanation.identity.as_deref(), Some("b"));
    assert_eq!(explanation.reason, Reason::MatchedCaName);
    assert_eq!(explanation.ca_names.len(), 2);
    assert_eq!(explanation.ca_names[0].name, "CN=Other, O=Test PKI");
    assert!(explanation.ca_names[0].identities.is_empty());
    assert_eq!(explanation.ca_names[1].identities, ["b"]);
    let text = explanation.to_string();
    assert!(text.contains("CN=CA 2, O=Test PKI  -> b"), "{text}");
    assert!(text.contains("chosen: b (matched_ca_name)"), "{text}");
    assert!(
        recorder.take().is_empty(),
        "explain must not notify the observer"
    );

    let none = resolver.explain(&[], RSA_ONLY, None);
    assert_eq!(none.identity, None);
    assert_eq!(none.reason, Reason::NoSigningScheme);
    assert_eq!(none.unable_to_sign, ["a", "b"]);
    let text = none.to_string();
    assert!(text.contains("acceptable CA names: none sent"), "{text}");
    assert!(
        text.contains("chosen: no certificate (no_signing_scheme)"),
        "{text}"
    );
}

#[test]
fn debug_output_names_identities_but_never_keys() {
    let ca = Ca::root("CA");
    let (leaf, key) = ca.client_leaf("secret holder", &rcgen::PKCS_ECDSA_P256_SHA256);
    let pkcs8 = key.serialize_der();
    let id = Identity::from_der(
        "holder",
        vec![leaf],
        rustls::pki_types::PrivateKeyDer::Pkcs8(pkcs8.clone().into()),
        &support::provider(),
    )
    .unwrap();
    let resolver = MultiIdentityResolver::new([id.clone()]).unwrap();
    let debug = format!(
        "{id:?} {resolver:?} {:?}",
        resolver.for_server_name("x.example")
    );
    assert!(
        debug.contains("holder") && debug.contains("CN=secret holder"),
        "{debug}"
    );
    // No run of the key's bytes, in any common rendering.
    let tail = &pkcs8[pkcs8.len() - 16..];
    let hex: String = tail.iter().map(|b| format!("{b:02x}")).collect();
    let decimal = format!("{:?}", &tail[..8])
        .trim_matches(['[', ']'])
        .to_owned();
    assert!(
        !debug.contains(&hex) && !debug.contains(&decimal),
        "{debug}"
    );
    assert!(!debug.to_lowercase().contains("private"), "{debug}");
}

#[test]
fn reason_labels_are_stable() {
    let labels = [
        (Reason::ServerNamePreference, "server_name_preference"),
        (Reason::MatchedCaName, "matched_ca_name"),
        (Reason::Fallback, "fallback"),
        (Reason::NoneAvailable, "none_available"),
        (Reason::NoSigningScheme, "no_signing_scheme"),
    ];
    for (reason, label) in labels {
        assert_eq!(reason.as_str(), label);
        assert_eq!(reason.to_string(), label);
    }
}
