//! Per-request costs of the HTTP proxy path that do not touch sockets: header rewriting and
//! the upstream pick; plus the per-connection `x-forwarded-client-cert` build.

#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use mtls_http_proxy::headers::{ClientFacts, rewrite_request_headers};
use mtls_http_proxy::{ForwardedClientCert, HeaderRewrite, UpstreamPool};

fn request_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "api.acme.test"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("content-length", "512"),
        ("authorization", "Bearer abcdefghijklmnopqrstuvwxyz"),
        ("connection", "keep-alive"),
        ("x-request-id", "0f6c2d0e-1d4a-4c59-9d1a-0a5f3c7e2b11"),
        ("x-mtls-tenant", "spoofed"),
        ("x-forwarded-for", "10.0.0.1"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn bench_proxy(c: &mut Criterion) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "acme");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme Corp");
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let uri = "spiffe://proxy.test/tenant/acme";
    c.bench_function("xfcc_from_der", |b| {
        b.iter(|| ForwardedClientCert::from_der(std::hint::black_box(&der), Some(uri)).unwrap())
    });

    let cert = ForwardedClientCert::from_der(&der, Some(uri)).unwrap();
    let client = ClientFacts {
        tenant: "acme",
        client_ip: "192.0.2.7".parse().unwrap(),
        client_cert: &cert,
    };
    let rewrite = HeaderRewrite {
        add: vec![(
            HeaderName::from_static("x-env"),
            HeaderValue::from_static("prod"),
        )],
        ..HeaderRewrite::default()
    };
    let template = request_headers();
    let host = template.get("host").cloned();
    c.bench_function("rewrite_request_headers_10", |b| {
        b.iter_batched(
            || template.clone(),
            |mut headers| {
                rewrite_request_headers(&mut headers, &client, &rewrite, host.as_ref(), false);
                headers
            },
            criterion::BatchSize::SmallInput,
        )
    });

    let urls = (1..=4)
        .map(|i| format!("http://10.0.0.{i}:8080").parse().unwrap())
        .collect();
    let pool = UpstreamPool::new(urls, Duration::from_secs(10)).unwrap();
    pool.mark_failed(2);
    c.bench_function("pool_pick_4_one_failed", |b| b.iter(|| pool.pick()));
}

criterion_group!(benches, bench_proxy);
criterion_main!(benches);
