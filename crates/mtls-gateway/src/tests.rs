//! Unit tests for the TLS sides (built with mtls-tls), handshake-failure classification and
//! the drain tracker.
//! Handshakes run over in-memory duplex pipes; no sockets.

use std::path::PathBuf;
use std::time::Duration;

use mtls_test_support::pki::{test_ca as ca, test_leaf as leaf};
use mtls_tls::{BuildError, FileKind, PemError};
use rustls_pki_types::ServerName;
use time::OffsetDateTime;

use crate::tls::{self, TlsError};
use mtls_config::{ClientTlsConfig, IdentityConfig, SelectionPolicy, ServerTlsConfig};
use mtls_tls::{ClientAuth, TlsVersion};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// ca.pem, server.pem/server-key.pem, client.pem/client-key.pem, expired.pem/expired-key.pem,
/// stranger.pem/stranger-key.pem (other CA).
fn files() -> Files {
    let f = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    let (issuer, pem) = ca("test CA");
    std::fs::write(f.path("ca.pem"), pem).unwrap();
    for (name, server, expired) in [
        ("server", true, false),
        ("client", false, false),
        ("expired", false, true),
    ] {
        let (c, k) = leaf(&issuer, server, expired);
        std::fs::write(f.path(&format!("{name}.pem")), c).unwrap();
        std::fs::write(f.path(&format!("{name}-key.pem")), k).unwrap();
    }
    let (other, _) = ca("other CA");
    let (c, k) = leaf(&other, false, false);
    std::fs::write(f.path("stranger.pem"), c).unwrap();
    std::fs::write(f.path("stranger-key.pem"), k).unwrap();
    f
}

fn server_tls(f: &Files, client_auth: ClientAuth) -> ServerTlsConfig {
    ServerTlsConfig {
        cert: f.path("server.pem"),
        key: f.path("server-key.pem"),
        client_auth,
        min_version: TlsVersion::Tls12,
        session_lifetime: mtls_tls::DEFAULT_SESSION_LIFETIME,
        verified_chain_cache: mtls_tls::DEFAULT_VERIFIED_CHAIN_CACHE,
    }
}

fn client_tls(f: &Files, name: &str) -> ClientTlsConfig {
    ClientTlsConfig {
        identities: vec![IdentityConfig {
            name: "default".to_owned(),
            cert: f.path(&format!("{name}.pem")),
            key: f.path(&format!("{name}-key.pem")),
        }],
        policy: SelectionPolicy::new(),
        ca: f.path("ca.pem"),
        server_name: ServerName::try_from("localhost").unwrap(),
        min_version: TlsVersion::Tls12,
    }
}

fn required(f: &Files) -> ClientAuth {
    ClientAuth::Required {
        ca: f.path("ca.pem"),
    }
}

#[test]
fn loads_material_and_reports_cert_info() {
    let f = files();
    let info = tls::server_config(&server_tls(&f, required(&f)))
        .unwrap()
        .info;
    assert_eq!(info.subject, "CN=rcgen self signed cert");
    assert_eq!(info.serial, "4201");
    assert!(info.is_valid_at(OffsetDateTime::now_utc()));
    assert!(info.seconds_left(OffsetDateTime::now_utc()) > 0);
    let side = tls::client_config(&client_tls(&f, "client"), None).unwrap();
    assert_eq!(side.certs.len(), 1);
    assert_eq!(side.certs[0].serial, "4202");
    assert_eq!(side.certs[0].identity.as_deref(), Some("default"));
}

/// `mtls_tls`'s errors reach the gateway's callers unchanged, texts included (mtls-tls's
/// own tests check every variant, mtlsd's tests the texts operators see).
#[test]
fn load_errors_keep_their_texts_through_the_gateway() {
    let f = files();
    let mut t = server_tls(&f, required(&f));
    t.key = f.path("client-key.pem");
    let err = tls::server_config(&t).unwrap_err();
    assert!(
        matches!(&err, TlsError::Build(BuildError::Pem(PemError::KeyMismatch { key, .. })) if key == &f.path("client-key.pem")),
        "{err:?}"
    );
    let chain = crate::ErrorChain(&err).to_string();
    let expected = format!(
        "private key {} does not match certificate {} or is unusable: ",
        f.path("client-key.pem").display(),
        f.path("server.pem").display()
    );
    assert!(chain.starts_with(&expected), "{chain}");

    let mut t = client_tls(&f, "client");
    t.ca = f.path("absent.pem");
    let err = tls::client_config(&t, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::Pem(PemError::Read { kind: FileKind::Ca, path, .. }) if path == &f.path("absent.pem")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("cannot read CA file {}", f.path("absent.pem").display())
    );
}

/// Runs one handshake in memory; returns the server side's failure reason, if any.
async fn handshake(server: ServerTlsConfig, client: Client) -> Option<&'static str> {
    let server_cfg = tls::server_config(&server).unwrap().config;
    let (a, b) = tokio::io::duplex(64 * 1024);
    let accept = tokio::spawn(async move {
        tokio_rustls::TlsAcceptor::from(server_cfg)
            .accept(a)
            .await
            .map(|_| ())
    });
    let localhost = ServerName::try_from("localhost").unwrap();
    let config = match client {
        Client::Tls(c) => tls::client_config(&c, None).unwrap().config,
        Client::NoCert => {
            let store = mtls_tls::load_root_store(&server_ca(&server)).unwrap();
            std::sync::Arc::new(
                rustls::ClientConfig::builder_with_provider(mtls_tls::provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(store)
                    .with_no_client_auth(),
            )
        }
        Client::Tls12Only => std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(mtls_tls::provider())
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
        Client::Plain => {
            use tokio::io::AsyncWriteExt;
            let mut b = b;
            let _ = b.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let result = tokio::time::timeout(Duration::from_secs(10), accept).await;
            return result
                .unwrap()
                .unwrap()
                .err()
                .map(|e| crate::conn::classify(&e));
        }
    };
    // Keep the client stream open until the server is done: it writes session tickets after
    // the client's Finished.
    let _client = tokio_rustls::TlsConnector::from(config)
        .connect(localhost, b)
        .await;
    let result = tokio::time::timeout(Duration::from_secs(10), accept).await;
    result
        .unwrap()
        .unwrap()
        .err()
        .map(|e| crate::conn::classify(&e))
}

enum Client {
    Tls(ClientTlsConfig),
    NoCert,
    Tls12Only,
    Plain,
}

fn server_ca(server: &ServerTlsConfig) -> PathBuf {
    match &server.client_auth {
        ClientAuth::Required { ca } | ClientAuth::Optional { ca } => ca.clone(),
        _ => server.cert.clone(),
    }
}

#[tokio::test]
async fn handshake_failures_are_classified() {
    let f = files();
    let req = || server_tls(&f, required(&f));
    let tls = |name: &str| Client::Tls(client_tls(&f, name));
    assert_eq!(handshake(req(), tls("client")).await, None);
    assert_eq!(handshake(req(), tls("expired")).await, Some("cert_expired"));
    assert_eq!(handshake(req(), tls("stranger")).await, Some("unknown_ca"));
    assert_eq!(
        handshake(req(), Client::NoCert).await,
        Some("no_client_cert")
    );
    assert_eq!(handshake(req(), Client::Plain).await, Some("not_tls"));
    let mut only13 = req();
    only13.min_version = TlsVersion::Tls13;
    assert_eq!(
        handshake(only13, Client::Tls12Only).await,
        Some("protocol_version")
    );
    // Optional client auth: no certificate is fine, a bad one is still refused.
    let optional = || {
        server_tls(
            &f,
            ClientAuth::Optional {
                ca: f.path("ca.pem"),
            },
        )
    };
    assert_eq!(handshake(optional(), Client::NoCert).await, None);
    assert_eq!(
        handshake(optional(), tls("stranger")).await,
        Some("unknown_ca")
    );
}

#[tokio::test]
async fn tracker_waits_for_every_guard() {
    let t = crate::tracker::Tracker::default();
    t.idle().await; // nothing live: returns at once
    let g1 = t.guard();
    let g2 = t.guard();
    assert_eq!(t.live(), 2);
    let waiter = tokio::spawn({
        let t = t.clone();
        async move { t.idle().await }
    });
    drop(g1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    drop(g2);
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
}

mod expiry;
mod identities;
