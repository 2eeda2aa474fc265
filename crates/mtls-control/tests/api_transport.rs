//! The transport: h2 by ALPN, TLS 1.2 accepted, a silent client dropped at the handshake
//! timeout.

mod support;

use std::time::{Duration, Instant};

use mtls_control::ControlSettings;
use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use support::{Fixture, relaxed};
use tokio::io::AsyncReadExt;

fn client(
    fx: &Fixture,
    alpn: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            rustls::pki_types::CertificateDer::from_pem_slice(fx.ca.root_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(mtls_tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .resolve("localhost", fx.addr)
        .build()
        .unwrap()
}

#[tokio::test]
async fn h2_by_alpn_and_tls_1_2_are_served() {
    let fx = Fixture::start(relaxed()).await;
    let h2 = client(&fx, b"h2", &[&rustls::version::TLS13]);
    let response = h2.get(fx.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let tls12 = client(&fx, b"http/1.1", &[&rustls::version::TLS12]);
    let response = tls12.get(fx.url("/v1/whoami")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    fx.stop().await;
}

#[tokio::test]
async fn a_client_that_never_handshakes_is_dropped_at_the_timeout() {
    let fx = Fixture::start(ControlSettings {
        handshake_timeout: Duration::from_millis(300),
        ..relaxed()
    })
    .await;
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("the server closes the connection within 5 s");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed, nothing sent: {read:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before the timeout"
    );
    fx.stop().await;
}
