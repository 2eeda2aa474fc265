//! In-memory rustls handshakes (no sockets): the resolver sends the identity the server asks
//! for, in TLS 1.2 and TLS 1.3.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mtls_resolver::{Fallback, MultiIdentityResolver, Reason, RequestCapture};
use rustls::SignatureScheme;
use support::{
    Ca, Recorder, ServerOptions, VERSIONS, client_config, handshake, leaf, server_config,
};

struct Pki {
    server_ca: Ca,
    ca1: Ca,
    ca2: Ca,
}

fn pki() -> Pki {
    Pki {
        server_ca: Ca::root("Server CA"),
        ca1: Ca::root("Client CA 1"),
        ca2: Ca::root("Client CA 2"),
    }
}

#[test]
fn server_trusting_one_ca_gets_that_identity() {
    let pki = pki();
    let id1 = pki.ca1.identity("one", &[]);
    let id2 = pki.ca2.identity("two", &[]);
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([id1.clone(), id2.clone()])
        .fallback(Fallback::None)
        .observer(recorder.clone())
        .build()
        .unwrap();
    for version in VERSIONS {
        let client = client_config(&pki.server_ca, version, Arc::new(resolver.clone()));
        for (trusted, expected) in [(&pki.ca2, &id2), (&pki.ca1, &id1)] {
            let server = server_config(
                &pki.server_ca,
                &[trusted],
                version,
                ServerOptions::default(),
            );
            let got = handshake(&client, &server)
                .unwrap_or_else(|e| panic!("{version:?}: handshake failed: {e}"));
            let got = got.expect("server saw a client certificate");
            assert_eq!(got, vec![leaf(expected)], "{version:?}");
            assert_eq!(
                recorder.take(),
                vec![(Some(expected.name().to_owned()), Reason::MatchedCaName)],
                "{version:?}"
            );
        }
    }
}

#[test]
fn identity_through_an_intermediate_matches_the_root_name() {
    let pki = pki();
    let root3 = Ca::root("Client Root 3");
    let inter3 = root3.intermediate("Client Intermediate 3");
    let id3 = inter3.identity("three", &[&inter3]);
    let resolver = MultiIdentityResolver::builder()
        .identity(pki.ca1.identity("one", &[]))
        .identity(pki.ca2.identity("two", &[]))
        .identity(id3.clone())
        .fallback(Fallback::None)
        .build()
        .unwrap();
    for version in VERSIONS {
        let server = server_config(&pki.server_ca, &[&root3], version, ServerOptions::default());
        let client = client_config(&pki.server_ca, version, Arc::new(resolver.clone()));
        let got = handshake(&client, &server)
            .unwrap()
            .expect("client certificate");
        assert_eq!(got, vec![leaf(&id3), inter3.cert()], "{version:?}");
    }
}

#[test]
fn no_ca_names_sent_uses_the_fallback() {
    let pki = pki();
    let id1 = pki.ca1.identity("one", &[]);
    let id2 = pki.ca2.identity("two", &[]);
    let no_names = || ServerOptions {
        hints: Some(Vec::new()),
        ..ServerOptions::default()
    };
    for version in VERSIONS {
        // Named fallback: the server trusts CA 2 but does not say so.
        let recorder = Arc::new(Recorder::default());
        let resolver = MultiIdentityResolver::builder()
            .identities([id1.clone(), id2.clone()])
            .fallback(Fallback::Named("two".into()))
            .observer(recorder.clone())
            .build()
            .unwrap();
        let server = server_config(&pki.server_ca, &[&pki.ca2], version, no_names());
        let client = client_config(&pki.server_ca, version, Arc::new(resolver));
        let got = handshake(&client, &server)
            .unwrap()
            .expect("client certificate");
        assert_eq!(got, vec![leaf(&id2)]);
        assert_eq!(
            recorder.take(),
            vec![(Some("two".to_owned()), Reason::Fallback)]
        );

        // First: identity one, which a server trusting CA 1 accepts.
        let resolver = MultiIdentityResolver::new([id1.clone(), id2.clone()]).unwrap();
        let server = server_config(&pki.server_ca, &[&pki.ca1], version, no_names());
        let client = client_config(&pki.server_ca, version, Arc::new(resolver));
        let got = handshake(&client, &server)
            .unwrap()
            .expect("client certificate");
        assert_eq!(got, vec![leaf(&id1)]);
    }
}

#[test]
fn fallback_none_sends_no_certificate() {
    let pki = pki();
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([pki.ca1.identity("one", &[]), pki.ca2.identity("two", &[])])
        .fallback(Fallback::None)
        .observer(recorder.clone())
        .build()
        .unwrap();
    for version in VERSIONS {
        let options = ServerOptions {
            hints: Some(Vec::new()),
            allow_unauthenticated: true,
            ..ServerOptions::default()
        };
        let server = server_config(&pki.server_ca, &[&pki.ca2], version, options);
        let client = client_config(&pki.server_ca, version, Arc::new(resolver.clone()));
        let got = handshake(&client, &server).unwrap();
        assert_eq!(got, None, "{version:?}: no certificate expected");
        assert_eq!(recorder.take(), vec![(None, Reason::NoneAvailable)]);

        // A server that requires a certificate then fails the handshake.
        let options = ServerOptions {
            hints: Some(Vec::new()),
            ..ServerOptions::default()
        };
        let server = server_config(&pki.server_ca, &[&pki.ca2], version, options);
        let err = handshake(&client, &server).unwrap_err();
        assert!(err.starts_with("server:"), "{err}");
        assert_eq!(recorder.take(), vec![(None, Reason::NoneAvailable)]);
    }
}

#[test]
fn rsa_only_server_gets_the_rsa_identity() {
    let pki = pki();
    let ecdsa = pki.ca1.identity("ecdsa", &[]);
    let rsa = pki.ca1.identity_with("rsa", &[], &rcgen::PKCS_RSA_SHA256);
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([ecdsa, rsa.clone()])
        .fallback(Fallback::None)
        .observer(recorder.clone())
        .build()
        .unwrap();
    for version in VERSIONS {
        let options = ServerOptions {
            schemes: Some(vec![
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PKCS1_SHA256,
            ]),
            ..ServerOptions::default()
        };
        let server = server_config(&pki.server_ca, &[&pki.ca1], version, options);
        let client = client_config(&pki.server_ca, version, Arc::new(resolver.clone()));
        let got = handshake(&client, &server)
            .unwrap()
            .expect("client certificate");
        assert_eq!(got, vec![leaf(&rsa)], "{version:?}");
        assert_eq!(
            recorder.take(),
            vec![(Some("rsa".to_owned()), Reason::MatchedCaName)]
        );
    }
}

#[test]
fn ca_name_in_another_string_encoding_matches() {
    let server_ca = Ca::root("Server CA");
    let printable_ca = Ca::root_printable("Printable Client CA");
    let other = Ca::root("Other CA");
    let id = printable_ca.identity("printable", &[]);
    // The same name as the CA's, re-encoded as UTF8String (rcgen's default encoding).
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "Printable Client CA");
    dn.push(rcgen::DnType::OrganizationName, "Test PKI");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn;
    let utf8_twin = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let utf8_name = x509_parser::parse_x509_certificate(utf8_twin.der())
        .unwrap()
        .1
        .subject()
        .as_raw()
        .to_vec();
    assert_ne!(
        utf8_name,
        printable_ca.subject_der(),
        "the encodings must differ"
    );

    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([other.identity("other", &[]), id.clone()])
        .fallback(Fallback::None)
        .observer(recorder.clone())
        .build()
        .unwrap();
    for version in VERSIONS {
        let options = ServerOptions {
            hints: Some(vec![utf8_name.clone()]),
            ..ServerOptions::default()
        };
        let server = server_config(&server_ca, &[&printable_ca], version, options);
        let client = client_config(&server_ca, version, Arc::new(resolver.clone()));
        let got = handshake(&client, &server)
            .unwrap()
            .expect("client certificate");
        assert_eq!(got, vec![leaf(&id)], "{version:?}");
        assert_eq!(
            recorder.take(),
            vec![(Some("printable".to_owned()), Reason::MatchedCaName)]
        );
    }
}

#[test]
fn server_name_preference_comes_before_ca_matching() {
    let pki = pki();
    let id1 = pki.ca1.identity("one", &[]);
    let id2 = pki.ca2.identity("two", &[]);
    let resolver = MultiIdentityResolver::builder()
        .identities([id1.clone(), id2.clone()])
        .prefer("localhost".parse().unwrap(), "two")
        .build()
        .unwrap();
    let version = &rustls::version::TLS13;
    // The server accepts both CAs: without a preference, the first configured wins.
    let server = server_config(
        &pki.server_ca,
        &[&pki.ca1, &pki.ca2],
        version,
        ServerOptions::default(),
    );
    let plain = client_config(&pki.server_ca, version, Arc::new(resolver.clone()));
    assert_eq!(handshake(&plain, &server).unwrap(), Some(vec![leaf(&id1)]));
    let view = client_config(
        &pki.server_ca,
        version,
        Arc::new(resolver.for_server_name("LocalHost.")),
    );
    assert_eq!(handshake(&view, &server).unwrap(), Some(vec![leaf(&id2)]));
}

/// Identity sets are swapped while several threads handshake with a server trusting CA 2
/// only. Both sets hold a CA 2 identity, so every handshake must succeed.
#[test]
fn replacing_identities_while_handshakes_run() {
    const THREADS: usize = 3;
    const HANDSHAKES: usize = 150;
    let pki = pki();
    let set_a = vec![pki.ca1.identity("one", &[]), pki.ca2.identity("two", &[])];
    let set_b = vec![
        pki.ca2.identity("two-b", &[]),
        Ca::root("Extra CA").identity("extra", &[]),
    ];
    let accepted = [leaf(&set_a[1]), leaf(&set_b[0])];
    let resolver = MultiIdentityResolver::builder()
        .identities(set_a.clone())
        .fallback(Fallback::None)
        .build()
        .unwrap();
    let done = AtomicBool::new(false);
    let swaps = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut flip = false;
            while !done.load(Ordering::Relaxed) && swaps.load(Ordering::Relaxed) < 100_000 {
                let set = if flip { set_a.clone() } else { set_b.clone() };
                resolver.replace_identities(set).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
                flip = !flip;
                std::thread::yield_now();
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (pki, resolver, accepted) = (&pki, &resolver, &accepted);
                s.spawn(move || {
                    let version = VERSIONS[t % 2];
                    let server = server_config(
                        &pki.server_ca,
                        &[&pki.ca2],
                        version,
                        ServerOptions::default(),
                    );
                    let client = client_config(&pki.server_ca, version, Arc::new(resolver.clone()));
                    for i in 0..HANDSHAKES {
                        let got = handshake(&client, &server)
                            .unwrap_or_else(|e| panic!("thread {t}, handshake {i}: {e}"))
                            .expect("client certificate");
                        assert!(accepted.contains(&got[0]), "thread {t}, handshake {i}");
                    }
                })
            })
            .collect();
        for worker in workers {
            let result = worker.join();
            done.store(true, Ordering::Relaxed);
            result.unwrap();
        }
    });
    assert!(
        swaps.load(Ordering::Relaxed) > 1,
        "identities were never swapped"
    );
}

#[test]
fn capture_records_what_the_server_asks_for() {
    let pki = pki();
    let resolver =
        MultiIdentityResolver::new([pki.ca1.identity("one", &[]), pki.ca2.identity("two", &[])])
            .unwrap();
    for version in VERSIONS {
        let options = ServerOptions {
            allow_unauthenticated: true,
            ..ServerOptions::default()
        };
        let server = server_config(&pki.server_ca, &[&pki.ca2], version, options);
        let capture = Arc::new(RequestCapture::new());
        let client = client_config(&pki.server_ca, version, capture.clone());
        assert_eq!(handshake(&client, &server).unwrap(), None);
        let request = capture.take().expect("the server asked for a certificate");
        assert_eq!(request.ca_names, vec![pki.ca2.subject_der()]);
        assert!(
            request
                .schemes
                .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
        );
        let explanation = resolver.explain_request(&request, Some("localhost"));
        assert_eq!(
            explanation.identity.as_deref(),
            Some("two"),
            "{explanation}"
        );
        assert!(capture.take().is_none(), "take() clears");

        // A server that does not ask: nothing recorded.
        let (cert, key) = pki.server_ca.server_leaf();
        let silent = rustls::ServerConfig::builder_with_provider(support::provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        handshake(&client, &Arc::new(silent)).unwrap();
        assert!(capture.take().is_none(), "{version:?}");
    }
}
