//! The registry's data-plane view at scale: 10,000 tenants, one certificate and one route
//! each, 1% of the certificates revoked.
//!
//! - `snapshot_10k_tenants`: [`Store::snapshot`], i.e. one read transaction and four
//!   queries, parsing every tenant, route spec and serial (what the gateway does when the
//!   registry version changes);
//! - `admit_active` / `admit_revoked`: [`Snapshot::admit`] on that snapshot (what the
//!   gateway does after every handshake);
//! - `version`: [`Store::version`], the change-detection poll.
//!
//! The setup (30,000 committed transactions through the public API) runs once, outside
//! the timing.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId, TrustDomain};
use mtls_registry::{Actor, CertificateKind, NewCertificate, Refusal, Store, TenantLimits};
use mtls_registry_sqlite::SqliteStore;
use mtls_route_spec::{HostPattern, HttpRoute, RouteSpec, UpstreamUrl};

const TENANTS: usize = 10_000;

struct Setup {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    active: (TenantId, Serial),
    revoked: (TenantId, Serial),
}

fn setup() -> Setup {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let domain: TrustDomain = "proxy.example.com".parse().expect("trust domain");
    let actor = Actor::new("bench:setup").expect("actor");
    let store = SqliteStore::create(dir.path().join("registry.db"), &domain, &actor)
        .expect("create registry");
    let upstream: UpstreamUrl = "https://10.0.0.5:8443".parse().expect("upstream");
    let now = time::OffsetDateTime::now_utc();
    let mut active = None;
    let mut revoked = None;
    for i in 0..TENANTS {
        let id: TenantId = format!("tenant-{i:05}").parse().expect("tenant id");
        store
            .create_tenant(&actor, &id, &format!("Tenant {i}"), TenantLimits::default())
            .expect("create tenant");
        let cert = store
            .record_certificate(&actor, &id, &mut |_| {
                let serial = Serial::random();
                Ok(NewCertificate {
                    fingerprint: Fingerprint::of_der(serial.as_bytes()),
                    serial,
                    not_before: now,
                    not_after: now + time::Duration::days(90),
                    kind: CertificateKind::Client,
                })
            })
            .expect("record certificate");
        let host: HostPattern = format!("api.{id}.example.test").parse().expect("host");
        let mut route = HttpRoute::new(host, vec![upstream.clone()]);
        // The upstream is a private address: routes must say so when they are added.
        route.allow_private = true;
        let route = RouteSpec::from(route);
        store.add_route(&actor, &id, route).expect("add route");
        if i % 100 == 0 {
            store
                .revoke_certificate(&actor, &cert.serial, RevocationReason::KeyCompromise)
                .expect("revoke");
            revoked = Some((id, cert.serial));
        } else {
            active = Some((id, cert.serial));
        }
    }
    eprintln!(
        "setup: {TENANTS} tenants, {} revoked, in {:.1?}",
        TENANTS / 100,
        started.elapsed()
    );
    Setup {
        _dir: dir,
        store,
        active: active.expect("an active tenant"),
        revoked: revoked.expect("a revoked certificate"),
    }
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let snapshot = s.store.snapshot().expect("snapshot");
    assert_eq!(snapshot.tenant_count(), TENANTS);
    assert!(snapshot.admit(&s.active.0, &s.active.1).is_ok());
    assert_eq!(
        snapshot.admit(&s.revoked.0, &s.revoked.1).unwrap_err(),
        Refusal::CertificateRevoked
    );

    c.bench_function("snapshot_10k_tenants", |b| {
        b.iter(|| black_box(s.store.snapshot().expect("snapshot")))
    });
    c.bench_function("admit_active", |b| {
        b.iter(|| black_box(snapshot.admit(black_box(&s.active.0), black_box(&s.active.1))).is_ok())
    });
    c.bench_function("admit_revoked", |b| {
        b.iter(|| {
            black_box(snapshot.admit(black_box(&s.revoked.0), black_box(&s.revoked.1))).is_err()
        })
    });
    c.bench_function("version", |b| {
        b.iter(|| black_box(s.store.version().expect("version")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
