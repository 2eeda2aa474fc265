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

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_accept_and_a_slot_frees_on_close() {
    let fx = Fixture::start(ControlSettings {
        max_connections: 2,
        ..relaxed()
    })
    .await;
    // Two idle TCP connections (no handshake yet) take both slots.
    let first = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    let client = client(&fx, b"http/1.1", &[&rustls::version::TLS13]);
    // The third is closed at accept; the accept loop may not have seen the first two yet, so
    // poll (bounded) until a request is refused.
    let mut refused = false;
    for _ in 0..50 {
        match client.get(fx.url("/openapi.json")).send().await {
            Err(_) => {
                refused = true;
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(
        refused,
        "a third connection must be closed while two are open"
    );
    // Closing one frees its slot: requests succeed again.
    drop(first);
    let mut served = false;
    for _ in 0..100 {
        if let Ok(response) = client.get(fx.url("/openapi.json")).send().await {
            assert_eq!(response.status(), StatusCode::OK);
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a freed slot must accept a new connection");
    fx.stop().await;
}
