//! Micro-benchmarks: parsing route values, matching hosts and paths, and reading a stored
//! spec back from JSON (what the registry does for every route on each snapshot build).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mtls_route_spec::{ConnectPattern, HostPattern, PathPrefix, RouteSpec, UpstreamUrl};

const SPEC_JSON: &str = r#"{"kind":"http","host":"*.acme.test","path_prefix":"/api/v1","upstreams":["https://10.0.0.5:8443","https://10.0.0.6:8443/base"],"add_headers":["x-env: prod"],"timeout":"30s","upstream_tls":{"server_name":"api.internal"}}"#;

fn parsing(c: &mut Criterion) {
    c.bench_function("parse HostPattern *.example.com", |b| {
        b.iter(|| black_box("*.Example.com").parse::<HostPattern>().unwrap())
    });
    c.bench_function("parse PathPrefix /api/v1/items", |b| {
        b.iter(|| black_box("/api/v1/items").parse::<PathPrefix>().unwrap())
    });
    c.bench_function("parse UpstreamUrl", |b| {
        b.iter(|| {
            black_box("https://api.internal:8443/base")
                .parse::<UpstreamUrl>()
                .unwrap()
        })
    });
    c.bench_function("parse ConnectPattern", |b| {
        b.iter(|| {
            black_box("*.example.com:8000-8100")
                .parse::<ConnectPattern>()
                .unwrap()
        })
    });
    c.bench_function("RouteSpec from JSON (validating)", |b| {
        b.iter(|| serde_json::from_str::<RouteSpec>(black_box(SPEC_JSON)).unwrap())
    });
}

fn matching(c: &mut Criterion) {
    let wildcard: HostPattern = "*.example.com".parse().unwrap();
    let exact: HostPattern = "api.example.com".parse().unwrap();
    let prefix: PathPrefix = "/api/v1".parse().unwrap();
    c.bench_function("HostPattern::matches wildcard", |b| {
        b.iter(|| wildcard.matches(black_box("a.b.Example.com")))
    });
    c.bench_function("HostPattern::matches exact", |b| {
        b.iter(|| exact.matches(black_box("API.example.com")))
    });
    c.bench_function("PathPrefix::matches", |b| {
        b.iter(|| prefix.matches(black_box("/api/v1/items/42")))
    });
}

criterion_group!(benches, parsing, matching);
criterion_main!(benches);
