//! A bulk load against the one-at-a-time writes it stands for.

use std::sync::Arc;

use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId, TrustDomain};
use mtls_registry::{
    Actor, AuditFilter, CertificateKind, Delta, MAX_DELTA_TENANTS, ManualClock, NewCertificate,
    RegistryError, Snapshot, Store, TenantLimits,
};
use mtls_route_spec::{HttpRoute, RouteSpec};
use serde_json::Value;
use time::OffsetDateTime;

use super::BulkTenant;
use crate::SqliteStore;

const START: OffsetDateTime = time::macros::datetime!(2026-11-02 10:00:00 UTC);

fn actor() -> Actor {
    Actor::new("cli:bulk-test").unwrap()
}

fn store(dir: &tempfile::TempDir, name: &str) -> SqliteStore {
    let domain: TrustDomain = "bulk.example.com".parse().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    SqliteStore::create_with_clock(dir.path().join(name), &domain, &actor(), clock).unwrap()
}

fn http(host: &str, prefix: &str) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().unwrap(),
        vec!["https://10.0.0.5:8443".parse().unwrap()],
    );
    route.path_prefix = prefix.parse().unwrap();
    route.allow_private = true;
    route.into()
}

/// `n` tenants with 1 or 2 certificates, 9 exact-host routes and a wildcard each; some with
/// limits.
fn tenants(n: usize) -> Vec<BulkTenant> {
    (0..n)
        .map(|i| {
            let mut routes: Vec<RouteSpec> = (0..9)
                .map(|k| http(&format!("svc{k}.t{i:04}.bulk.test"), "/v1"))
                .collect();
            routes.push(http(&format!("*.t{i:04}.bulk.test"), "/"));
            let certificates = (0..1 + i % 2)
                .map(|c| NewCertificate {
                    serial: Serial::random(),
                    fingerprint: Fingerprint::of_der(format!("cert {i} {c}").as_bytes()),
                    not_before: START,
                    not_after: START + time::Duration::days(90),
                    kind: CertificateKind::Client,
                })
                .collect();
            let limits = if i % 5 == 0 {
                TenantLimits {
                    max_connections: Some(10),
                    requests_per_second: Some(100),
                }
            } else {
                TenantLimits::default()
            };
            BulkTenant {
                id: format!("t{i:04}").parse().unwrap(),
                display_name: format!("Tenant {i}"),
                limits,
                certificates,
                routes,
            }
        })
        .collect()
}

/// The same tenants through `create_tenant`, `record_certificate` and `add_route`.
fn one_at_a_time(store: &SqliteStore, tenants: &[BulkTenant]) {
    for t in tenants {
        store
            .create_tenant(&actor(), &t.id, &t.display_name, t.limits)
            .unwrap();
        for cert in &t.certificates {
            store
                .record_certificate(&actor(), &t.id, &mut |_| Ok(cert.clone()))
                .unwrap();
        }
        for spec in &t.routes {
            store.add_route(&actor(), &t.id, spec.clone()).unwrap();
        }
    }
}

/// A snapshot with the random route ids left out: per tenant, its record and its routes'
/// (tenant, spec, creation time) in order.
fn comparable(snapshot: &Snapshot) -> Vec<(TenantId, String, Vec<String>)> {
    let mut out: Vec<_> = snapshot
        .tenants()
        .map(|(id, tenant)| {
            let routes = snapshot
                .routes(id)
                .iter()
                .map(|r| format!("{} {:?} {}", r.tenant, r.spec, r.created_at))
                .collect();
            (id.clone(), format!("{tenant:?}"), routes)
        })
        .collect();
    out.sort();
    out
}

/// The audit log with the random route ids (and so the hashes) left out.
fn comparable_events(store: &SqliteStore) -> Vec<(u64, String, String, Option<TenantId>, Value)> {
    store
        .audit_events(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| {
            let mut details = e.details;
            if let Some(map) = details.as_object_mut() {
                map.remove("route");
            }
            (e.seq, e.actor, e.action, e.tenant, details)
        })
        .collect()
}

#[test]
fn a_bulk_load_writes_what_the_one_at_a_time_writes_would() {
    let dir = tempfile::tempdir().unwrap();
    let (normal, bulk) = (store(&dir, "normal.db"), store(&dir, "bulk.db"));
    let input = tenants(50);
    one_at_a_time(&normal, &input);
    let loaded = bulk.bulk_load(&actor(), input.clone()).unwrap();

    assert_eq!(loaded.tenants, 50);
    assert_eq!(loaded.certificates, 75);
    assert_eq!(loaded.routes, 500);
    assert_eq!(loaded.from_version, 1);
    assert_eq!(loaded.to_version, 1 + 50 + 75 + 500);
    assert_eq!(bulk.version().unwrap(), normal.version().unwrap());

    let (a, b) = (normal.snapshot().unwrap(), bulk.snapshot().unwrap());
    assert_eq!(a.version(), b.version());
    assert_eq!(a.tenant_count(), 50);
    assert_eq!(comparable(&a), comparable(&b));
    for t in &input {
        for cert in &t.certificates {
            assert!(b.admit(&t.id, &cert.serial).is_ok());
            assert_eq!(
                a.admit(&t.id, &cert.serial).cloned(),
                b.admit(&t.id, &cert.serial).cloned()
            );
        }
    }
    // The stored records (tenant rows, certificate rows with their lineage) match too.
    assert_eq!(normal.tenants().unwrap(), bulk.tenants().unwrap());
    assert_eq!(
        normal.certificates(None).unwrap(),
        bulk.certificates(None).unwrap()
    );

    // The same audit events, one per change, and a chain that verifies.
    assert_eq!(comparable_events(&normal), comparable_events(&bulk));
    let report = bulk.verify_audit().unwrap();
    assert_eq!(report.events, 1 + 50 + 75 + 500);
    let routes = bulk.routes(None).unwrap();
    let events = bulk.audit_events(&AuditFilter::default()).unwrap();
    for (route, event) in routes
        .iter()
        .zip(events.iter().filter(|e| e.action == "route.add"))
    {
        assert_eq!(event.details["route"], route.id.as_str());
    }

    // Later writes continue the chain.
    let t0 = &input[0];
    bulk.revoke_certificate(
        &actor(),
        &t0.certificates[0].serial,
        RevocationReason::KeyCompromise,
    )
    .unwrap();
    bulk.remove_route(&actor(), &routes[0].id).unwrap();
    assert_eq!(bulk.verify_audit().unwrap().events, report.events + 2);
}

#[test]
fn a_reader_of_the_change_log_applies_a_small_load_and_rebuilds_after_a_big_one() {
    let dir = tempfile::tempdir().unwrap();
    let bulk = store(&dir, "bulk.db");
    let before = bulk.snapshot().unwrap();
    bulk.bulk_load(&actor(), tenants(20)).unwrap();
    let Delta::Tenants {
        version, tenants, ..
    } = bulk.delta_since(before.version()).unwrap()
    else {
        panic!("20 tenants are a delta");
    };
    let mut view = before.clone();
    view.apply(version, tenants);
    assert_eq!(view, bulk.snapshot().unwrap());

    // More tenants than a delta carries: the reader is told to rebuild, never given part.
    let at = bulk.version().unwrap();
    let many: Vec<BulkTenant> = (0..=MAX_DELTA_TENANTS)
        .map(|i| BulkTenant {
            id: format!("m{i:05}").parse().unwrap(),
            display_name: format!("Many {i}"),
            limits: TenantLimits::default(),
            certificates: Vec::new(),
            routes: Vec::new(),
        })
        .collect();
    let loaded = bulk.bulk_load(&actor(), many).unwrap();
    assert_eq!(loaded.to_version, at + MAX_DELTA_TENANTS as u64 + 1);
    assert_eq!(
        bulk.delta_since(at).unwrap(),
        Delta::Gap {
            version: loaded.to_version
        }
    );
    bulk.verify_audit().unwrap();
}

#[test]
fn a_refused_tenant_rolls_the_whole_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let bulk = store(&dir, "bulk.db");
    let version = bulk.version().unwrap();
    let check_nothing_written = |err: RegistryError, kind: fn(&RegistryError) -> bool| {
        assert!(kind(&err), "{err}");
        assert_eq!(bulk.version().unwrap(), version);
        assert!(bulk.tenants().unwrap().is_empty());
        assert!(bulk.routes(None).unwrap().is_empty());
        assert_eq!(bulk.verify_audit().unwrap().events, 1);
    };

    let mut twice = tenants(3);
    twice.push(twice[1].clone());
    let err = bulk.bulk_load(&actor(), twice).unwrap_err();
    check_nothing_written(err, |e| matches!(e, RegistryError::DuplicateTenant { .. }));

    let mut same_serial = tenants(3);
    same_serial[2].certificates[0].serial = same_serial[0].certificates[0].serial.clone();
    let err = bulk.bulk_load(&actor(), same_serial).unwrap_err();
    check_nothing_written(err, |e| matches!(e, RegistryError::DuplicateSerial { .. }));

    let mut conflict = tenants(3);
    let again = conflict[2].routes[3].clone();
    conflict[2].routes.push(again);
    let err = bulk.bulk_load(&actor(), conflict).unwrap_err();
    check_nothing_written(err, |e| matches!(e, RegistryError::RouteConflict { .. }));

    let mut public_check = tenants(3);
    let mut private = HttpRoute::new(
        "x.bulk.test".parse().unwrap(),
        vec!["http://127.0.0.1:9".parse().unwrap()],
    );
    private.allow_private = false;
    public_check[1].routes.push(private.into());
    let err = bulk.bulk_load(&actor(), public_check).unwrap_err();
    check_nothing_written(err, |e| matches!(e, RegistryError::InvalidRoute { .. }));

    let mut backwards = tenants(3);
    backwards[0].certificates[0].not_after = START;
    let err = bulk.bulk_load(&actor(), backwards).unwrap_err();
    check_nothing_written(err, |e| {
        matches!(e, RegistryError::InvalidCertificate { .. })
    });

    let mut bad_name = tenants(3);
    bad_name[1].display_name = String::new();
    let err = bulk.bulk_load(&actor(), bad_name).unwrap_err();
    check_nothing_written(err, |_| true);

    // An existing tenant is refused as create_tenant refuses it.
    bulk.create_tenant(
        &actor(),
        &"t0001".parse().unwrap(),
        "Made first",
        TenantLimits::default(),
    )
    .unwrap();
    let err = bulk.bulk_load(&actor(), tenants(3)).unwrap_err();
    assert!(
        matches!(err, RegistryError::DuplicateTenant { .. }),
        "{err}"
    );
    assert_eq!(bulk.tenants().unwrap().len(), 1);
    bulk.verify_audit().unwrap();
}

#[test]
fn a_checkpoint_after_a_load_empties_the_log_and_keeps_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let bulk = store(&dir, "bulk.db");
    bulk.bulk_load(&actor(), tenants(50)).unwrap();
    let wal = dir.path().join("bulk.db-wal");
    let log_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(log_len() > 0, "the load is in the write-ahead log");
    let loaded = bulk.snapshot().unwrap();

    bulk.checkpoint().unwrap();
    assert_eq!(log_len(), 0, "the log is truncated");
    // Everything is in the file: a fresh store on it reads the same registry, and the
    // store that checkpointed goes on writing.
    let reopened = SqliteStore::open(dir.path().join("bulk.db")).unwrap();
    assert_eq!(reopened.snapshot().unwrap(), loaded);
    reopened.verify_audit().unwrap();
    bulk.bulk_load(&actor(), tenants(51).split_off(50)).unwrap();
    assert_eq!(
        reopened.snapshot().unwrap().tenant_count(),
        loaded.tenant_count() + 1
    );
}
