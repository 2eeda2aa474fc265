//! Several client identities on an outbound side: selection by CA name, preferences, the
//! metric, and load errors. Handshakes run in memory against a rustls server.

use std::sync::Arc;

use mtls_identity::PeerIdentity;
use mtls_metrics::{Metrics, SelectionMetrics};
use mtls_resolver::{Fallback, SelectionObserver, ServerNamePattern};

use super::{Files, ca, files, leaf, server_tls};
use crate::tls::{self, TlsError};
use mtls_config::{ClientTlsConfig, IdentityConfig, SelectionPolicy};
use mtls_tls::ClientAuth;

/// `files()` plus ca1.pem/one.pem and ca2.pem/two.pem (one identity per CA) and
/// both-cas.pem.
fn identity_files() -> Files {
    let f = files();
    let mut both = String::new();
    for (ca_file, name, ca_name) in [
        ("ca1", "one", "Identity CA One"),
        ("ca2", "two", "Identity CA Two"),
    ] {
        let (issuer, pem) = ca(ca_name);
        std::fs::write(f.path(&format!("{ca_file}.pem")), &pem).unwrap();
        both.push_str(&pem);
        let (c, k) = leaf(&issuer, false, false);
        std::fs::write(f.path(&format!("{name}.pem")), c).unwrap();
        std::fs::write(f.path(&format!("{name}-key.pem")), k).unwrap();
    }
    std::fs::write(f.path("both-cas.pem"), both).unwrap();
    f
}

fn identity(f: &Files, name: &str) -> IdentityConfig {
    IdentityConfig {
        name: name.to_owned(),
        cert: f.path(&format!("{name}.pem")),
        key: f.path(&format!("{name}-key.pem")),
    }
}

fn two_identities(f: &Files, policy: SelectionPolicy) -> ClientTlsConfig {
    let mut t = super::client_tls(f, "client");
    t.identities = vec![identity(f, "one"), identity(f, "two")];
    t.policy = policy;
    t
}

/// Handshakes `client` with a server requiring certificates from `server_ca`; returns the
/// issuer of the client certificate the server received, or the client-side error.
async fn handshake(
    f: &Files,
    server_ca: &str,
    client: &ClientTlsConfig,
    metrics: &Arc<Metrics>,
) -> Result<String, String> {
    let server = server_tls(
        f,
        ClientAuth::Required {
            ca: f.path(server_ca),
        },
    );
    let server_cfg = tls::server_config(&server).unwrap().config;
    let observer: Arc<dyn SelectionObserver> =
        Arc::new(SelectionMetrics::new("out", metrics.clone()));
    let side = tls::client_config(client, Some(observer)).unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let accept = tokio::spawn(async move {
        tokio_rustls::TlsAcceptor::from(server_cfg)
            .accept(a)
            .await
            .map(|s| {
                let der = s.get_ref().1.peer_certificates().unwrap()[0].clone();
                PeerIdentity::from_der(&der, None).unwrap().issuer
            })
    });
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let _client = tokio_rustls::TlsConnector::from(side.config)
        .connect(name, b)
        .await;
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), accept).await;
    result.unwrap().unwrap().map_err(|e| e.to_string())
}

fn series(metrics: &Metrics, identity: &str, reason: &str) -> Option<f64> {
    let prefix = format!(
        "mtlsd_client_identity_selections_total{{listener=\"out\",identity=\"{identity}\",reason=\"{reason}\"}} "
    );
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
}

#[tokio::test]
async fn the_identity_the_server_asks_for_is_sent_and_counted() {
    let f = identity_files();
    let metrics = Arc::new(Metrics::new());
    let client = two_identities(&f, SelectionPolicy::new());
    assert_eq!(
        handshake(&f, "ca2.pem", &client, &metrics).await.unwrap(),
        "CN=Identity CA Two"
    );
    assert_eq!(
        handshake(&f, "ca1.pem", &client, &metrics).await.unwrap(),
        "CN=Identity CA One"
    );
    assert_eq!(
        handshake(&f, "ca2.pem", &client, &metrics).await.unwrap(),
        "CN=Identity CA Two"
    );
    assert_eq!(series(&metrics, "two", "matched_ca_name"), Some(2.0));
    assert_eq!(series(&metrics, "one", "matched_ca_name"), Some(1.0));
}

#[tokio::test]
async fn a_server_name_preference_wins_over_the_ca_match() {
    let f = identity_files();
    let metrics = Arc::new(Metrics::new());
    let policy =
        SelectionPolicy::new().prefer("*.localhost".parse::<ServerNamePattern>().unwrap(), "two");
    // The listener dials "localhost": the wildcard does not cover it, CA matching applies.
    let client = two_identities(&f, policy);
    assert_eq!(
        handshake(&f, "both-cas.pem", &client, &metrics)
            .await
            .unwrap(),
        "CN=Identity CA One"
    );
    let policy =
        SelectionPolicy::new().prefer("localhost".parse::<ServerNamePattern>().unwrap(), "two");
    let client = two_identities(&f, policy);
    assert_eq!(
        handshake(&f, "both-cas.pem", &client, &metrics)
            .await
            .unwrap(),
        "CN=Identity CA Two"
    );
    assert_eq!(series(&metrics, "two", "server_name_preference"), Some(1.0));
    assert_eq!(series(&metrics, "one", "matched_ca_name"), Some(1.0));
}

#[tokio::test]
async fn no_matching_identity_and_no_fallback_sends_nothing() {
    let f = identity_files();
    let metrics = Arc::new(Metrics::new());
    // The server trusts only the test CA; neither identity answers to it.
    let client = two_identities(&f, SelectionPolicy::new().with_fallback(Fallback::None));
    let err = handshake(&f, "ca.pem", &client, &metrics)
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    assert_eq!(series(&metrics, "none", "none_available"), Some(1.0));

    // `identities = []`: never a certificate, counted the same way.
    let mut empty = two_identities(&f, SelectionPolicy::new());
    empty.identities.clear();
    let side = tls::client_config(&empty, None).unwrap();
    assert!(side.certs.is_empty());
    assert!(handshake(&f, "ca.pem", &empty, &metrics).await.is_err());
    assert_eq!(series(&metrics, "none", "none_available"), Some(2.0));
}

#[test]
fn identity_load_errors_name_the_identity_and_file() {
    let f = identity_files();
    let mut client = two_identities(&f, SelectionPolicy::new());
    client.identities[1].cert = f.path("missing.pem");
    let err = tls::client_config(&client, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::Identity { identity, .. } if identity == "two"),
        "{err:?}"
    );
    let chain = crate::ErrorChain(&err).to_string();
    assert!(
        chain.contains("\"two\"") && chain.contains("missing.pem"),
        "{chain}"
    );

    // A key of the other identity: refused, naming both files.
    let mut client = two_identities(&f, SelectionPolicy::new());
    client.identities[0].key = f.path("two-key.pem");
    let chain = crate::ErrorChain(&tls::client_config(&client, None).unwrap_err()).to_string();
    assert!(
        chain.contains("two-key.pem") && chain.contains("one.pem"),
        "{chain}"
    );

    // A programmatic config whose fallback names no identity.
    let client = two_identities(
        &f,
        SelectionPolicy::new().with_fallback(Fallback::Named("three".into())),
    );
    assert!(matches!(
        tls::client_config(&client, None),
        Err(TlsError::IdentitySet(_))
    ));
}

#[test]
fn every_identity_is_listed_with_its_certificate() {
    let f = identity_files();
    let side = tls::client_config(&two_identities(&f, SelectionPolicy::new()), None).unwrap();
    let names: Vec<_> = side
        .certs
        .iter()
        .map(|c| c.identity.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(side.certs[1].path, f.path("two.pem"));
    assert_eq!(side.certs[1].serial, "4202");
}
