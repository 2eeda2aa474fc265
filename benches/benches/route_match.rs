//! The route matcher at scale: 10,000 tenants, each with three HTTP routes (an exact host
//! with the prefixes `/v1` and `/v1/admin`, and a wildcard host under `/`) and one CONNECT
//! route of two patterns: 40,000 routes in all.
//!
//! - `match_http/exact_hit`: exact host with a port, longest prefix, a query string;
//! - `match_http/wildcard_hit`: a host only the tenant's wildcard claims;
//! - `match_http/miss`: another tenant's host (`NoHostMatch`);
//! - `match_connect/allowed` and `match_connect/refused`;
//! - `build_40k_routes`: [`RouteTable::build`] of all routes (what the gateway does when the
//!   registry version changes), cloning the input outside the timing.
//!
//! Flat lookup numbers whatever the tenant count are the point: a lookup hashes the tenant,
//! then probes one entry per host label and per path segment.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mtls_identity::TenantId;
use mtls_route_spec::{ConnectRoute, HttpRoute, RouteSpec};
use mtls_router::{NoRoute, RouteTable};

const TENANTS: usize = 10_000;

fn tenant(i: usize) -> TenantId {
    format!("t{i:05}").parse().expect("tenant id")
}

fn http(host: &str, prefix: &str) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().expect("host"),
        vec!["https://10.0.0.5:8443".parse().expect("upstream")],
    );
    route.path_prefix = prefix.parse().expect("prefix");
    route.into()
}

fn routes() -> Vec<(TenantId, String, RouteSpec)> {
    let mut routes = Vec::with_capacity(TENANTS * 4);
    for i in 0..TENANTS {
        let id = tenant(i);
        let api = format!("api.t{i:05}.example.test");
        let allow = vec![
            format!("*.t{i:05}.partner.test:443")
                .parse()
                .expect("pattern"),
            format!("db.t{i:05}.internal.test:5432")
                .parse()
                .expect("pattern"),
        ];
        routes.push((id.clone(), format!("r-{i:05}-0"), http(&api, "/v1")));
        routes.push((id.clone(), format!("r-{i:05}-1"), http(&api, "/v1/admin")));
        let wildcard = format!("*.t{i:05}.example.test");
        routes.push((id.clone(), format!("r-{i:05}-2"), http(&wildcard, "/")));
        routes.push((id, format!("r-{i:05}-3"), ConnectRoute::new(allow).into()));
    }
    routes
}

fn lookups(c: &mut Criterion) {
    let table = RouteTable::build(routes());
    let t = tenant(TENANTS / 2);

    let mut group = c.benchmark_group("match_http");
    group.bench_function("exact_hit", |b| {
        b.iter(|| {
            let m = table.match_http(
                black_box(&t),
                black_box("api.t05000.example.test:443"),
                black_box("/v1/users/42?expand=1"),
            );
            assert_eq!(m.map(|m| m.key.as_str()), Ok("r-05000-0"));
        })
    });
    group.bench_function("wildcard_hit", |b| {
        b.iter(|| {
            let m = table.match_http(
                black_box(&t),
                black_box("static.t05000.example.test"),
                black_box("/assets/app.js"),
            );
            assert_eq!(m.map(|m| m.key.as_str()), Ok("r-05000-2"));
        })
    });
    group.bench_function("miss", |b| {
        b.iter(|| {
            let m = table.match_http(
                black_box(&t),
                black_box("api.t05001.example.test"),
                black_box("/v1/users/42"),
            );
            assert_eq!(m.map(|m| m.key.as_str()), Err(NoRoute::NoHostMatch));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("match_connect");
    group.bench_function("allowed", |b| {
        b.iter(|| {
            let m = table.match_connect(
                black_box(&t),
                black_box("db.t05000.internal.test"),
                black_box(5432),
            );
            assert_eq!(m.map(|m| m.key.as_str()), Ok("r-05000-3"));
        })
    });
    group.bench_function("refused", |b| {
        b.iter(|| {
            let m = table.match_connect(
                black_box(&t),
                black_box("db.t05000.internal.test"),
                black_box(22),
            );
            assert_eq!(m.map(|m| m.key.as_str()), Err(NoRoute::NotAllowed));
        })
    });
    group.finish();
}

fn build(c: &mut Criterion) {
    let routes = routes();
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.bench_function("build_40k_routes", |b| {
        b.iter_batched(
            || routes.clone(),
            |routes| {
                let table = RouteTable::build(routes);
                assert_eq!(table.tenants(), TENANTS);
                table
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, lookups, build);
criterion_main!(benches);
