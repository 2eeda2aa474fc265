//! Request trailers through `forward` to an h2 upstream over TLS (the hop that carries
//! trailers): identity headers and their look-alikes never arrive as trailers, from an
//! HTTP/2 client's trailing HEADERS or an HTTP/1.1 client's chunked trailer section.

mod support;

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mtls_http_proxy::{ProxyBody, RouteTarget, TargetOptions};
use mtls_route_spec::{HttpRoute, UpstreamTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

use support::*;

/// An h2-over-TLS upstream answering JSON: the protocol version it saw and every trailer
/// (name to list of values). Returns its address and the CA that signed its certificate.
async fn trailer_recording_upstream() -> (std::net::SocketAddr, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "trailers test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["backend.internal".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let addr = serve_tls(
        Arc::new(config),
        |req: Request<Incoming>, _peer| async move {
            let version = format!("{:?}", req.version());
            let collected = req.into_body().collect().await.unwrap();
            let mut trailers = serde_json::Map::new();
            for (name, value) in collected.trailers().into_iter().flatten() {
                let list = trailers
                    .entry(name.as_str().to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                list.as_array_mut()
                    .unwrap()
                    .push(value.to_str().unwrap().into());
            }
            let body = serde_json::json!({
                "version": version,
                "body": String::from_utf8_lossy(&collected.to_bytes()),
                "trailers": trailers,
            });
            Response::new(
                Full::new(Bytes::from(body.to_string()))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
        },
    )
    .await;
    (addr, ca_cert.pem())
}

async fn front_to_recording_upstream(dir: &std::path::Path) -> std::net::SocketAddr {
    let (upstream, ca_pem) = trailer_recording_upstream().await;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let mut route = HttpRoute::new(
        "api.acme.test".parse().unwrap(),
        vec![format!("https://{upstream}").parse().unwrap()],
    );
    // The recording upstream is on loopback.
    route.allow_private = true;
    route.upstream_tls = Some(UpstreamTls {
        ca_file: Some(ca_file),
        server_name: Some("backend.internal".into()),
        identity: None,
    });
    let target = RouteTarget::from_route("t", &route, &TargetOptions::default(), None).unwrap();
    front(Arc::new(target)).await
}

fn assert_only_benign_trailers(json: &Value) {
    assert_eq!(json["version"], "HTTP/2.0", "{json}");
    assert_eq!(json["body"], "hello", "{json}");
    let trailers = json["trailers"].as_object().unwrap();
    let mut names: Vec<&str> = trailers.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["x-checksum"], "{json}");
    assert_eq!(trailers["x-checksum"][0], "abc", "{json}");
}

#[tokio::test]
async fn h2_client_trailers_lose_identity_headers() {
    let dir = tempfile::tempdir().unwrap();
    let front_addr = front_to_recording_upstream(dir.path()).await;

    let mut trailers = HeaderMap::new();
    for (name, value) in [
        ("x-mtls-tenant", "admin"),
        ("x_mtls_tenant", "admin"),
        ("x-forwarded-client-cert", "Hash=evil"),
        ("x-checksum", "abc"),
    ] {
        trailers.append(
            http::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let body: ProxyBody = Frames(
        vec![
            Frame::data(Bytes::from_static(b"hello")),
            Frame::trailers(trailers),
        ]
        .into(),
    )
    .map_err(|never| match never {})
    .boxed_unsync();
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<ProxyBody>();
    let request = Request::post(format!("http://{front_addr}/upload"))
        .body(body)
        .unwrap();
    let response = tokio::time::timeout(WAIT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_only_benign_trailers(&serde_json::from_slice(&bytes).unwrap());
}

#[tokio::test]
async fn http1_chunked_trailers_lose_identity_headers() {
    let dir = tempfile::tempdir().unwrap();
    let front_addr = front_to_recording_upstream(dir.path()).await;
    let (status, head, body) = raw_exchange(
        front_addr,
        "POST /upload HTTP/1.1\r\nHost: api.acme.test\r\nTransfer-Encoding: chunked\r\n\
         Trailer: x-mtls-tenant, x_mtls_tenant, x-forwarded-client-cert, x-checksum\r\n\r\n\
         5\r\nhello\r\n0\r\nx-mtls-tenant: admin\r\nX_Mtls_Tenant: admin\r\n\
         x-forwarded-client-cert: Hash=evil\r\nx-checksum: abc\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{head}\n{body}");
    assert_only_benign_trailers(&serde_json::from_str(&body).unwrap());
}

/// A body of ready frames: data, then trailers.
struct Frames(std::collections::VecDeque<Frame<Bytes>>);

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}
