//! Selection rules at the `resolve()` level, with explicit CA names and signature schemes.

mod support;

use std::sync::Arc;

use mtls_resolver::{
    Fallback, Identity, MultiIdentityResolver, Reason, ResolverError, SelectionPolicy,
    ServerNamePattern,
};
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
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

fn name_of(
    resolver: &dyn ResolvesClientCert,
    ids: &[&Identity],
    hints: &[&[u8]],
    schemes: &[SignatureScheme],
) -> Option<String> {
    let key = resolver.resolve(hints, schemes)?;
    let found = ids.iter().find(|id| Arc::ptr_eq(id.certified_key(), &key));
    Some(
        found
            .expect("key belongs to a known identity")
            .name()
            .to_owned(),
    )
}

#[test]
fn ecdsa_identity_is_not_chosen_for_rsa_only_schemes() {
    let ca = Ca::root("CA");
    let ecdsa = ca.identity("ecdsa", &[]);
    let rsa = ca.identity_with("rsa", &[], &rcgen::PKCS_RSA_SHA256);
    let hint = ca.subject_der();

    let recorder = Arc::new(Recorder::default());
    let only_ecdsa = MultiIdentityResolver::builder()
        .identity(ecdsa.clone())
        .observer(recorder.clone())
        .build()
        .unwrap();
    assert!(only_ecdsa.resolve(&[&hint], RSA_ONLY).is_none());
    assert_eq!(recorder.take(), vec![(None, Reason::NoSigningScheme)]);
    // The fallback is held to the same rule.
    assert!(only_ecdsa.resolve(&[], RSA_ONLY).is_none());
    assert_eq!(recorder.take(), vec![(None, Reason::NoSigningScheme)]);
    assert!(only_ecdsa.resolve(&[&hint], ECDSA).is_some());
    assert_eq!(
        recorder.take(),
        vec![(Some("ecdsa".into()), Reason::MatchedCaName)]
    );

    let both = MultiIdentityResolver::new([ecdsa.clone(), rsa.clone()]).unwrap();
    let ids = [&ecdsa, &rsa];
    assert_eq!(
        name_of(&both, &ids, &[&hint], RSA_ONLY).as_deref(),
        Some("rsa")
    );
    assert_eq!(
        name_of(&both, &ids, &[&hint], ECDSA).as_deref(),
        Some("ecdsa")
    );
    assert!(rsa.can_sign(RSA_ONLY) && !ecdsa.can_sign(RSA_ONLY));
}

#[test]
fn first_configured_identity_wins_among_matches() {
    let (ca1, ca2) = (Ca::root("CA 1"), Ca::root("CA 2"));
    let a = ca2.identity("a", &[]);
    let b = ca1.identity("b", &[]);
    let c = ca1.identity("c", &[]);
    let resolver = MultiIdentityResolver::new([a.clone(), b.clone(), c.clone()]).unwrap();
    let ids = [&a, &b, &c];
    let (h1, h2) = (ca1.subject_der(), ca2.subject_der());
    assert_eq!(
        name_of(&resolver, &ids, &[&h1], ECDSA).as_deref(),
        Some("b")
    );
    // Hint order does not matter; configuration order does.
    assert_eq!(
        name_of(&resolver, &ids, &[&h1, &h2], ECDSA).as_deref(),
        Some("a")
    );
    assert_eq!(
        name_of(&resolver, &ids, &[&h2, &h1], ECDSA).as_deref(),
        Some("a")
    );
}

#[test]
fn fallback_variants() {
    let (ca1, ca2, ca3) = (Ca::root("CA 1"), Ca::root("CA 2"), Ca::root("Unknown CA"));
    let a = ca1.identity("a", &[]);
    let b = ca2.identity("b", &[]);
    let ids = [&a, &b];
    let unknown = ca3.subject_der();
    let with = |fallback| {
        let recorder = Arc::new(Recorder::default());
        let resolver = MultiIdentityResolver::builder()
            .identities([a.clone(), b.clone()])
            .fallback(fallback)
            .observer(recorder.clone())
            .build()
            .unwrap();
        (resolver, recorder)
    };
    let (first, rec) = with(Fallback::First);
    assert_eq!(
        name_of(&first, &ids, &[&unknown], ECDSA).as_deref(),
        Some("a")
    );
    assert_eq!(name_of(&first, &ids, &[], ECDSA).as_deref(), Some("a"));
    assert_eq!(rec.take(), vec![(Some("a".into()), Reason::Fallback); 2]);

    let (named, _) = with(Fallback::Named("b".into()));
    assert_eq!(
        name_of(&named, &ids, &[&unknown], ECDSA).as_deref(),
        Some("b")
    );

    let (none, rec) = with(Fallback::None);
    assert_eq!(name_of(&none, &ids, &[&unknown], ECDSA), None);
    assert_eq!(rec.take(), vec![(None, Reason::NoneAvailable)]);
    // A match still works without a fallback.
    assert_eq!(
        name_of(&none, &ids, &[&unknown, &ca2.subject_der()], ECDSA).as_deref(),
        Some("b")
    );
}

#[test]
fn empty_resolver_sends_nothing() {
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .observer(recorder.clone())
        .build()
        .unwrap();
    assert!(resolver.resolve(&[], ECDSA).is_none());
    assert_eq!(recorder.take(), vec![(None, Reason::NoneAvailable)]);
    // Always true, so rustls keeps the TLS 1.2 transcript for identities swapped in later.
    assert!(resolver.has_certs());
}

#[test]
fn hint_without_outer_sequence_matches() {
    let ca = Ca::root("CA with a long enough name");
    let id = ca.identity("a", &[]);
    let resolver = MultiIdentityResolver::builder()
        .identity(id.clone())
        .fallback(Fallback::None)
        .build()
        .unwrap();
    let full = ca.subject_der();
    assert!(full[1] < 0x80, "short-form length expected in this test");
    let content = &full[2..];
    assert_eq!(
        name_of(&resolver, &[&id], &[content], ECDSA).as_deref(),
        Some("a")
    );
    assert_eq!(name_of(&resolver, &[&id], &[b"garbage"], ECDSA), None);
}

#[test]
fn intermediate_and_root_names_both_match() {
    let root = Ca::root("Root");
    let inter = root.intermediate("Intermediate");
    let id = inter.identity("a", &[&inter, &root]);
    let resolver = MultiIdentityResolver::builder()
        .identity(id.clone())
        .fallback(Fallback::None)
        .build()
        .unwrap();
    for hint in [root.subject_der(), inter.subject_der()] {
        assert_eq!(
            name_of(&resolver, &[&id], &[&hint], ECDSA).as_deref(),
            Some("a")
        );
    }
    let names: Vec<&str> = id.ca_names().collect();
    assert_eq!(
        names,
        ["CN=Intermediate, O=Test PKI", "CN=Root, O=Test PKI"]
    );
}

#[test]
fn server_name_preferences() {
    let (ca1, ca2) = (Ca::root("CA 1"), Ca::root("CA 2"));
    let a = ca1.identity("a", &[]);
    let b = ca2.identity("b", &[]);
    let rsa = ca2.identity_with("rsa", &[], &rcgen::PKCS_RSA_SHA256);
    let ids = [&a, &b, &rsa];
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([a.clone(), b.clone(), rsa.clone()])
        .prefer("api.globex.example".parse().unwrap(), "b")
        .prefer("*.initech.example".parse().unwrap(), "rsa")
        .observer(recorder.clone())
        .build()
        .unwrap();
    let h1 = ca1.subject_der();
    let view = resolver.for_server_name("API.Globex.Example");
    assert_eq!(view.server_name(), "api.globex.example");
    assert_eq!(name_of(&view, &ids, &[&h1], ECDSA).as_deref(), Some("b"));
    assert_eq!(
        recorder.take(),
        vec![(Some("b".into()), Reason::ServerNamePreference)]
    );

    let wild = resolver.for_server_name("x.initech.example");
    assert_eq!(name_of(&wild, &ids, &[&h1], ECDSA).as_deref(), Some("rsa"));
    // The preferred key cannot sign: CA matching takes over.
    assert_eq!(
        name_of(
            &wild,
            &ids,
            &[&h1],
            &[SignatureScheme::ECDSA_NISTP256_SHA256]
        )
        .as_deref(),
        Some("a")
    );
    // Wildcards cover one label only.
    let deep = resolver.for_server_name("a.b.initech.example");
    assert_eq!(name_of(&deep, &ids, &[&h1], ECDSA).as_deref(), Some("a"));
    assert_eq!(
        name_of(
            &resolver.for_server_name("initech.example"),
            &ids,
            &[&h1],
            ECDSA
        )
        .as_deref(),
        Some("a")
    );

    let pattern: ServerNamePattern = "*.Initech.Example.".parse().unwrap();
    assert_eq!(pattern.to_string(), "*.initech.example");
    assert!(pattern.matches("db.initech.example") && !pattern.matches("initech.example"));
    for bad in [
        "",
        "*",
        "a.*.b",
        "a..b",
        "foo bar.example",
        "*.",
        "x*.example",
    ] {
        let err = bad.parse::<ServerNamePattern>().unwrap_err();
        assert_eq!(err.pattern, bad);
    }
}

#[test]
fn invalid_sets_are_rejected_and_keep_the_current_one() {
    let ca = Ca::root("CA");
    let a = ca.identity("a", &[]);
    let b = ca.identity("b", &[]);
    let err = MultiIdentityResolver::new([a.clone(), a.clone()]).unwrap_err();
    assert_eq!(err, ResolverError::DuplicateIdentity { name: "a".into() });
    let err = MultiIdentityResolver::builder()
        .identity(a.clone())
        .fallback(Fallback::Named("zz".into()))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ResolverError::UnknownFallbackIdentity { name: "zz".into() }
    );
    let err = MultiIdentityResolver::builder()
        .identity(a.clone())
        .prefer("x.example".parse().unwrap(), "zz")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("x.example") && err.to_string().contains("zz"),
        "{err}"
    );

    let resolver = MultiIdentityResolver::builder()
        .identities([a.clone(), b.clone()])
        .fallback(Fallback::Named("b".into()))
        .build()
        .unwrap();
    // Dropping "b" would orphan the fallback: refused, and the old set stays.
    let err = resolver.replace_identities([a.clone()]).unwrap_err();
    assert!(matches!(err, ResolverError::UnknownFallbackIdentity { .. }));
    assert_eq!(resolver.identities().len(), 2);
    // With a new policy it goes through.
    resolver
        .replace(
            [a.clone()],
            SelectionPolicy::new().with_fallback(Fallback::None),
        )
        .unwrap();
    assert_eq!(resolver.identities().len(), 1);
    assert_eq!(resolver.policy().fallback(), &Fallback::None);
}

#[test]
fn replaced_identities_are_used_by_existing_views() {
    let (ca1, ca2) = (Ca::root("CA 1"), Ca::root("CA 2"));
    let a = ca1.identity("a", &[]);
    let b = ca2.identity("b", &[]);
    let resolver = MultiIdentityResolver::builder()
        .identity(a.clone())
        .fallback(Fallback::None)
        .build()
        .unwrap();
    let view = resolver.for_server_name("x.example");
    let hint = ca2.subject_der();
    assert_eq!(name_of(&view, &[&a, &b], &[&hint], ECDSA), None);
    resolver.replace_identities([a.clone(), b.clone()]).unwrap();
    assert_eq!(
        name_of(&view, &[&a, &b], &[&hint], ECDSA).as_deref(),
        Some("b")
    );
}
