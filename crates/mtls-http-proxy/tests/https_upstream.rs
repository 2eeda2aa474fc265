//! `forward` to https upstreams: a test CA from rcgen, SNI override, h2 by ALPN, and a
//! client identity for an upstream that requires one.

mod support;

use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mtls_http_proxy::{RouteTarget, RouteTargetError, TargetOptions};
use mtls_route_spec::{HttpRoute, UpstreamTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use serde_json::Value;

use support::*;

struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn pki() -> Pki {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "splice test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Pki {
        ca_pem: cert.pem(),
        ca_der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

fn leaf(pki: &Pki, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &pki.issuer).unwrap();
    (
        vec![cert.der().clone()],
        PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn server_config(pki: &Pki, client_auth: bool) -> Arc<rustls::ServerConfig> {
    let (chain, key) = leaf(pki, &["backend.internal"]);
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn get(front: std::net::SocketAddr) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = Request::get(format!("http://{front}/tls"))
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(WAIT, client.request(req))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

fn https_route(upstream: std::net::SocketAddr, ca_file: &std::path::Path) -> HttpRoute {
    let mut route = HttpRoute::new(
        "api.acme.test".parse().unwrap(),
        vec![format!("https://{upstream}").parse().unwrap()],
    );
    // The upstream is on loopback.
    route.allow_private = true;
    route.upstream_tls = Some(UpstreamTls {
        ca_file: Some(ca_file.to_owned()),
        server_name: Some("backend.internal".into()),
        identity: None,
    });
    route.validate().unwrap();
    route
}

#[tokio::test]
async fn https_upstream_with_ca_file_and_sni_override_speaks_h2() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("upstream-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let upstream = serve_tls(server_config(&pki, false), |req, peer| {
        echo("tls", req, peer)
    })
    .await;

    let route = https_route(upstream, &ca_file);
    let target = RouteTarget::from_route("tls", &route, &TargetOptions::default(), None).unwrap();
    let front_addr = support::front(Arc::new(target)).await;
    let (status, json) = get(front_addr).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["server"], "tls");
    // ALPN picked h2 for the upstream hop.
    assert_eq!(json["version"], "HTTP/2.0");

    // Without the override the URL's host (127.0.0.1) is verified, and the cert does not
    // name it: the handshake fails and the client gets a 502 naming the upstream.
    let mut wrong = route.clone();
    wrong.upstream_tls.as_mut().unwrap().server_name = None;
    let target = RouteTarget::from_route("tls", &wrong, &TargetOptions::default(), None).unwrap();
    let front_addr = support::front(Arc::new(target)).await;
    let (status, json) = get(front_addr).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    assert_eq!(json["error"], "upstream_unreachable");
    assert!(
        json["message"].as_str().unwrap().contains("TLS handshake"),
        "{json}"
    );
}

#[tokio::test]
async fn client_identity_is_presented_to_an_upstream_that_requires_one() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("upstream-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let upstream = serve_tls(server_config(&pki, true), |req, peer| {
        echo("mtls", req, peer)
    })
    .await;

    let mut route = https_route(upstream, &ca_file);
    route.upstream_tls.as_mut().unwrap().identity = Some("acme-egress".into());
    // Named but not supplied: refused when compiling the route.
    let err = RouteTarget::from_route("mtls", &route, &TargetOptions::default(), None).unwrap_err();
    assert!(
        matches!(err, RouteTargetError::MissingIdentity { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("acme-egress"), "{err}");

    let (chain, key) = leaf(&pki, &["acme-egress.client"]);
    let certified = CertifiedKey::from_der(chain, key, &provider()).unwrap();
    let resolver = Arc::new(SingleCertAndKey::from(certified));
    let target =
        RouteTarget::from_route("mtls", &route, &TargetOptions::default(), Some(resolver)).unwrap();
    let front_addr = support::front(Arc::new(target)).await;
    let (status, json) = get(front_addr).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["server"], "mtls");

    // Without an identity the upstream refuses the handshake: 502.
    route.upstream_tls.as_mut().unwrap().identity = None;
    let target = RouteTarget::from_route("mtls", &route, &TargetOptions::default(), None).unwrap();
    let front_addr = support::front(Arc::new(target)).await;
    let (status, json) = get(front_addr).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
}

#[tokio::test]
async fn bad_ca_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let route = https_route("127.0.0.1:1".parse().unwrap(), &missing);
    let err = RouteTarget::from_route("r", &route, &TargetOptions::default(), None).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("missing.pem"), "{chain}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let route = https_route("127.0.0.1:1".parse().unwrap(), &empty);
    let err = RouteTarget::from_route("r", &route, &TargetOptions::default(), None).unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.contains("empty.pem") && source.contains("no certificate"),
        "{source}"
    );
}
