//! The data-plane view at the registry's target scale: 100,000 tenants with 10 routes and
//! one certificate each (1,000,000 routes), built in memory the way the gateway builds it
//! when the registry version changes, after the store's rows are read (the SQLite read
//! itself is timed at 10,000 tenants by `registry_snapshot`).
//!
//! - `rebuild/snapshot`: [`SnapshotBuilder`] from the records (tenants, routes, serials);
//! - `rebuild/policy`: [`Policy::new`] of that snapshot, i.e. the route table compile
//!   ([`mtls_router::RouteTable::build`]) and the egress map;
//! - `lookup/exact_hit`, `lookup/wildcard_hit`, `lookup/miss`: one
//!   [`Policy::route_http`] in that 1,000,000-route table (the per-request route lookup);
//! - `lookup/admit`: [`mtls_registry::Snapshot::admit`] (the per-handshake check).
//!
//! Peak memory (Linux): before timing, the snapshot build and the policy compile each run
//! once between a reset of the resident high-water mark (`5` into `/proc/self/clear_refs`)
//! and a read of `VmHWM`/`VmRSS`; the memory each needed at its peak and kept afterwards is
//! printed once to stderr (`peak-memory ...` lines). (A counting global allocator would
//! need `unsafe`, which the workspace forbids.)
//!
//! Sizes: run as `cargo bench --bench registry_scale` (criterion's `--bench` flag) the full
//! 100,000 tenants are built; in test mode (`cargo test --bench registry_scale`, which CI
//! runs once per bench) 1,000 tenants keep the pass quick.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mtls_identity::{Serial, TenantId, TrustDomain};
use mtls_policy::Policy;
use mtls_registry::{
    RouteId, RouteRecord, Snapshot, SnapshotBuilder, SnapshotTenant, TenantLimits, TenantStatus,
};
use mtls_route_spec::{ConnectRoute, HttpRoute, RouteSpec};

/// Tenants in a `cargo bench` run.
const FULL_TENANTS: usize = 100_000;
/// Tenants in a test-mode pass.
const TEST_TENANTS: usize = 1_000;
/// Routes per tenant: eight exact hosts, one wildcard host, one CONNECT route.
const ROUTES_PER_TENANT: usize = 10;

/// Resident memory of this process from `/proc/self/status`, in KiB.
#[derive(Debug, Clone, Copy)]
struct Resident {
    /// `VmRSS`: resident now.
    now_kib: u64,
    /// `VmHWM`: the high-water mark since the last [`Resident::reset_peak`].
    peak_kib: u64,
}

// === impl Resident ===

impl Resident {
    /// Reads `VmRSS` and `VmHWM`; `None` where `/proc` is not available.
    fn read() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Self {
            now_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// Resets `VmHWM` to the current RSS (Linux: `5` into `/proc/self/clear_refs`).
    fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }
}

/// One tenant's rows as the store returns them.
#[derive(Clone)]
struct TenantRows {
    id: TenantId,
    tenant: SnapshotTenant,
    routes: Vec<RouteRecord>,
    serial: Serial,
}

/// Whether criterion was started by `cargo bench` (which passes `--bench`) rather than in
/// test mode.
fn full_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

fn tenant_id(i: usize) -> TenantId {
    format!("t{i:06}").parse().expect("tenant id")
}

/// Route ids are `r-` and 16 hex digits: tenant index, then route index.
fn route_key(i: usize, k: usize) -> String {
    format!("r-{i:012x}{k:04x}")
}

fn route(id: &TenantId, i: usize, k: usize, spec: RouteSpec) -> RouteRecord {
    RouteRecord {
        id: route_key(i, k).parse::<RouteId>().expect("route id"),
        tenant: id.clone(),
        spec: spec.into(),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

fn http(host: &str, prefix: &str) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().expect("host"),
        vec!["https://10.0.0.5:8443".parse().expect("upstream")],
    );
    route.path_prefix = prefix.parse().expect("prefix");
    route.allow_private = true;
    route.into()
}

fn rows(tenants: usize) -> Vec<TenantRows> {
    (0..tenants)
        .map(|i| {
            let id = tenant_id(i);
            let mut routes = Vec::with_capacity(ROUTES_PER_TENANT);
            for k in 0..ROUTES_PER_TENANT - 2 {
                let host = format!("svc{k}.t{i:06}.example.test");
                routes.push(route(&id, i, k, http(&host, "/v1")));
            }
            let wildcard = format!("*.t{i:06}.example.test");
            routes.push(route(&id, i, 8, http(&wildcard, "/")));
            let allow = vec![
                format!("db.t{i:06}.internal.test:5432")
                    .parse()
                    .expect("pattern"),
            ];
            routes.push(route(&id, i, 9, ConnectRoute::new(allow).into()));
            TenantRows {
                tenant: SnapshotTenant {
                    display_name: format!("Tenant {i}"),
                    status: TenantStatus::Active,
                    limits: TenantLimits::default(),
                    egress_address: None,
                },
                id,
                routes,
                serial: Serial::random(),
            }
        })
        .collect()
}

fn build_snapshot(domain: &TrustDomain, rows: Vec<TenantRows>) -> Snapshot {
    let mut builder = SnapshotBuilder::new(1, domain.clone());
    for row in rows {
        builder
            .certificate(row.serial, row.id.clone(), false)
            .expect("unique serial");
        builder.tenant(row.id, row.tenant).expect("unique tenant");
        for record in row.routes {
            builder.route(record).expect("known tenant, unique route");
        }
    }
    builder.build()
}

/// Runs `f` once and prints how much resident memory it needed at its peak and how much
/// it kept (deltas of `VmHWM` and `VmRSS`; the allocator may keep freed pages, so "kept"
/// is an upper bound).
fn measure_memory<T>(what: &str, tenants: usize, f: impl FnOnce() -> T) -> T {
    let reset = Resident::reset_peak();
    let before = Resident::read();
    let started = Instant::now();
    let out = f();
    let elapsed = started.elapsed();
    match (reset, before, Resident::read()) {
        (true, Some(before), Some(after)) => {
            let kept = after.now_kib.saturating_sub(before.now_kib);
            eprintln!(
                "peak-memory {what}: tenants={tenants} routes={} peak_mib={:.1} \
                 kept_mib={:.1} kept_bytes_per_tenant={} once_ms={}",
                tenants * ROUTES_PER_TENANT,
                after.peak_kib.saturating_sub(before.now_kib) as f64 / 1024.0,
                kept as f64 / 1024.0,
                kept * 1024 / tenants.max(1) as u64,
                elapsed.as_millis(),
            );
        }
        _ => eprintln!("peak-memory {what}: /proc/self/status or clear_refs not available"),
    }
    out
}

fn bench(c: &mut Criterion) {
    let tenants = if full_run() {
        FULL_TENANTS
    } else {
        TEST_TENANTS
    };
    let domain: TrustDomain = "proxy.example.com".parse().expect("trust domain");
    let input = rows(tenants);
    let middle = tenants / 2;
    let middle_id = tenant_id(middle);
    let middle_serial = input[middle].serial.clone();

    let snapshot = measure_memory("snapshot", tenants, || {
        build_snapshot(&domain, input.clone())
    });
    let copy = snapshot.clone();
    let policy = measure_memory("policy", tenants, || Policy::new(copy));
    assert_eq!(policy.snapshot().tenant_count(), tenants);
    assert_eq!(policy.table().len(), tenants * ROUTES_PER_TENANT);

    let mut group = c.benchmark_group("rebuild");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function(format!("snapshot/{tenants}"), |b| {
        b.iter_batched(
            || input.clone(),
            |rows| build_snapshot(&domain, rows),
            BatchSize::PerIteration,
        )
    });
    group.bench_function(format!("policy/{tenants}"), |b| {
        b.iter_batched(|| snapshot.clone(), Policy::new, BatchSize::PerIteration)
    });
    group.finish();

    let host = format!("svc3.t{middle:06}.example.test:443");
    let wildcard = format!("static.t{middle:06}.example.test");
    let other = format!("svc3.t{:06}.example.test", middle + 1);
    let exact_key = route_key(middle, 3);
    let wildcard_key = route_key(middle, 8);
    assert_eq!(
        policy
            .route_http(&middle_id, &host, "/v1/users/42")
            .map(|m| m.key.to_string()),
        Ok(exact_key)
    );
    assert_eq!(
        policy
            .route_http(&middle_id, &wildcard, "/app.js")
            .map(|m| m.key.to_string()),
        Ok(wildcard_key)
    );
    assert!(policy.route_http(&middle_id, &other, "/v1").is_err());
    assert!(snapshot.admit(&middle_id, &middle_serial).is_ok());

    let mut group = c.benchmark_group("lookup");
    group.bench_function(format!("exact_hit/{tenants}"), |b| {
        b.iter(|| {
            policy
                .route_http(
                    black_box(&middle_id),
                    black_box(&host),
                    black_box("/v1/users/42"),
                )
                .is_ok()
        })
    });
    group.bench_function(format!("wildcard_hit/{tenants}"), |b| {
        b.iter(|| {
            policy
                .route_http(
                    black_box(&middle_id),
                    black_box(&wildcard),
                    black_box("/app.js"),
                )
                .is_ok()
        })
    });
    group.bench_function(format!("miss/{tenants}"), |b| {
        b.iter(|| {
            policy
                .route_http(black_box(&middle_id), black_box(&other), black_box("/v1"))
                .is_err()
        })
    });
    group.bench_function(format!("admit/{tenants}"), |b| {
        b.iter(|| {
            snapshot
                .admit(black_box(&middle_id), black_box(&middle_serial))
                .is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
