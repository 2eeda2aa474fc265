//! `PostgresStore::bulk_load` against the one-at-a-time writes it stands for, on a real
//! server: the same rows, audit events and change log, a chain that verifies, listeners
//! told once, and a refusal anywhere leaving nothing behind.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId};
use mtls_registry::{
    AuditFilter, CertificateKind, Changes, Delta, MAX_DELTA_TENANTS, ManualClock, NewCertificate,
    RegistryError, Snapshot, Store, TenantLimits,
};
use mtls_registry_conformance::{actor, domain};
use mtls_registry_postgres::{BulkTenant, ChangeListener, ListenEvent, PostgresStore};
use mtls_route_spec::{HttpRoute, RouteSpec};
use mtls_test_postgres::PgServer;
use serde_json::Value;
use time::OffsetDateTime;

use crate::common::options;

const START: OffsetDateTime = time::macros::datetime!(2026-11-02 10:00:00 UTC);

fn store() -> (String, PostgresStore) {
    let url = PgServer::shared().database();
    let clock = Arc::new(ManualClock::new(START));
    let store = PostgresStore::create_with(&url, &domain(), &actor(), options(clock)).unwrap();
    (url, store)
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

/// `n` tenants (ids from `first`) with 1 or 2 certificates, 9 exact-host routes and a
/// wildcard each; some with limits; display names holding backslashes (which `COPY`
/// must escape) and other punctuation.
fn tenants_from(first: usize, n: usize) -> Vec<BulkTenant> {
    (first..first + n)
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
            let display_name = match i % 4 {
                0 => format!("Tenant {i}"),
                1 => format!("Back\\slash {i} \\N"),
                2 => format!("Quote \"{i}\" 'x' ünï"),
                _ => format!("Dollar $1 {i} 100% \\t"),
            };
            BulkTenant {
                id: format!("t{i:04}").parse().unwrap(),
                display_name,
                limits,
                certificates,
                routes,
            }
        })
        .collect()
}

fn tenants(n: usize) -> Vec<BulkTenant> {
    tenants_from(0, n)
}

/// The same tenants through `create_tenant`, `record_certificate` and `add_route`.
fn one_at_a_time(store: &PostgresStore, tenants: &[BulkTenant]) {
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

/// A snapshot with the random route ids left out.
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

fn without_route_id(mut details: Value) -> Value {
    if let Some(map) = details.as_object_mut() {
        map.remove("route");
    }
    details
}

/// The audit log with the random route ids (and so the hashes) left out.
fn comparable_events(
    store: &PostgresStore,
) -> Vec<(u64, OffsetDateTime, String, String, Option<TenantId>, Value)> {
    store
        .audit_events(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.seq,
                e.at,
                e.actor,
                e.action,
                e.tenant,
                without_route_id(e.details),
            )
        })
        .collect()
}

/// The change log after `version`, route ids left out.
fn comparable_changes(store: &PostgresStore, version: u64) -> Vec<String> {
    let Changes::Listed(changes) = store.changes_since(version, 10_000).unwrap() else {
        panic!("the log lists the changes");
    };
    changes
        .into_iter()
        .map(|c| {
            format!(
                "{} {:?} {:?} {}",
                c.version,
                c.kind,
                c.tenant,
                without_route_id(c.details)
            )
        })
        .collect()
}

#[test]
fn a_bulk_load_writes_what_the_one_at_a_time_writes_would() {
    let ((_, normal), (_, bulk)) = (store(), store());
    let input = tenants(40);
    one_at_a_time(&normal, &input);
    let loaded = bulk.bulk_load(&actor(), input.clone()).unwrap();

    assert_eq!(loaded.tenants, 40);
    assert_eq!(loaded.certificates, 60);
    assert_eq!(loaded.routes, 400);
    assert_eq!(loaded.from_version, 1);
    assert_eq!(loaded.to_version, 1 + 40 + 60 + 400);
    assert_eq!(bulk.version().unwrap(), normal.version().unwrap());

    let (a, b) = (normal.snapshot().unwrap(), bulk.snapshot().unwrap());
    assert_eq!(a.version(), b.version());
    assert_eq!(b.tenant_count(), 40);
    assert_eq!(comparable(&a), comparable(&b));
    for t in &input {
        assert_eq!(bulk.tenant(&t.id).unwrap().display_name, t.display_name);
        for cert in &t.certificates {
            assert!(b.admit(&t.id, &cert.serial).is_ok());
            assert_eq!(
                a.admit(&t.id, &cert.serial).cloned(),
                b.admit(&t.id, &cert.serial).cloned()
            );
        }
    }
    assert_eq!(normal.tenants().unwrap(), bulk.tenants().unwrap());
    assert_eq!(
        normal.certificates(None).unwrap(),
        bulk.certificates(None).unwrap()
    );

    // The same audit events and change log, one per change, and a chain that verifies.
    assert_eq!(comparable_events(&normal), comparable_events(&bulk));
    assert_eq!(comparable_changes(&normal, 1), comparable_changes(&bulk, 1));
    let report = bulk.verify_audit().unwrap();
    assert_eq!(report.events, 1 + 40 + 60 + 400);
    // Each route.add names the route it added, in the routes' creation order.
    let routes = bulk.routes(None).unwrap();
    let events = bulk.audit_events(&AuditFilter::default()).unwrap();
    let added: Vec<&Value> = events
        .iter()
        .filter(|e| e.action == "route.add")
        .map(|e| &e.details["route"])
        .collect();
    assert_eq!(added.len(), routes.len());
    for route in &routes {
        assert!(added.contains(&&Value::from(route.id.as_str())));
    }
    let per_tenant = bulk.routes(Some(&input[3].id)).unwrap();
    let specs: Vec<&RouteSpec> = per_tenant.iter().map(|r| &*r.spec).collect();
    assert_eq!(specs, input[3].routes.iter().collect::<Vec<_>>());

    // Later writes continue the chain, from another store on the same database too.
    bulk.revoke_certificate(
        &actor(),
        &input[0].certificates[0].serial,
        RevocationReason::KeyCompromise,
    )
    .unwrap();
    bulk.remove_route(&actor(), &routes[0].id).unwrap();
    assert_eq!(bulk.verify_audit().unwrap().events, report.events + 2);
}

#[test]
fn a_load_larger_than_a_chunk_is_one_change_log_and_a_reader_rebuilds_after_it() {
    let (_, bulk) = store();
    let before = bulk.snapshot().unwrap();
    let loaded = bulk.bulk_load(&actor(), tenants(20)).unwrap();
    let Delta::Tenants {
        version, tenants, ..
    } = bulk.delta_since(before.version()).unwrap()
    else {
        panic!("20 tenants are a delta");
    };
    assert_eq!(version, loaded.to_version);
    let mut view = before.clone();
    view.apply(version, tenants);
    assert_eq!(view, bulk.snapshot().unwrap());

    // More tenants than one chunk of COPYs and than a delta carries.
    let at = bulk.version().unwrap();
    let many: Vec<BulkTenant> = (0..=MAX_DELTA_TENANTS * 3)
        .map(|i| BulkTenant {
            id: format!("m{i:05}").parse().unwrap(),
            display_name: format!("Many {i}"),
            limits: TenantLimits::default(),
            certificates: Vec::new(),
            routes: vec![http(&format!("m{i:05}.bulk.test"), "/")],
        })
        .collect();
    let count = many.len() as u64;
    let loaded = bulk.bulk_load(&actor(), many).unwrap();
    assert_eq!(loaded.to_version, at + 2 * count);
    assert_eq!(
        bulk.delta_since(at).unwrap(),
        Delta::Gap {
            version: loaded.to_version
        }
    );
    let snapshot = bulk.snapshot().unwrap();
    assert_eq!(snapshot.tenant_count(), 20 + count as usize);
    assert_eq!(snapshot.version(), loaded.to_version);
    assert_eq!(bulk.verify_audit().unwrap().events, loaded.to_version);
}

#[test]
fn listeners_hear_the_final_version_once() {
    let (url, bulk) = store();
    let (tx, rx) = mpsc::channel();
    let _listener = ChangeListener::start(&url, move |event| {
        let _ = tx.send(event);
    })
    .unwrap();
    // The listener is connected once it says so.
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            ListenEvent::Connected => break,
            _ => continue,
        }
    }
    let loaded = bulk.bulk_load(&actor(), tenants(5)).unwrap();
    let mut heard = Vec::new();
    while let Ok(event) = rx.recv_timeout(Duration::from_millis(500)) {
        if let ListenEvent::Changed(version) = event {
            heard.push(version);
        }
    }
    assert_eq!(heard, vec![loaded.to_version]);
    // An empty load moves nothing and tells nobody.
    let empty = bulk.bulk_load(&actor(), Vec::new()).unwrap();
    assert_eq!(empty.to_version, loaded.to_version);
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn a_refused_tenant_rolls_the_whole_load_back() {
    let (_, bulk) = store();
    let version = bulk.version().unwrap();
    let check_nothing_written = |err: RegistryError, kind: fn(&RegistryError) -> bool| {
        assert!(kind(&err), "{err}");
        assert_eq!(bulk.version().unwrap(), version);
        assert!(bulk.tenants().unwrap().is_empty());
        assert!(bulk.routes(None).unwrap().is_empty());
        assert!(bulk.certificates(None).unwrap().is_empty());
        assert_eq!(bulk.verify_audit().unwrap().events, 1);
    };

    // The duplicate comes after a full chunk has been sent: that is rolled back too.
    let mut twice = tenants(2_500);
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

    // What exists already is refused as the one-at-a-time writes refuse it.
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
    let cert = bulk
        .record_certificate(&actor(), &"t0001".parse().unwrap(), &mut |_| {
            Ok(NewCertificate {
                serial: Serial::random(),
                fingerprint: Fingerprint::of_der(b"first"),
                not_before: START,
                not_after: START + time::Duration::days(1),
                kind: CertificateKind::Client,
            })
        })
        .unwrap();
    let mut taken = tenants_from(10, 3);
    taken[2].certificates[0].serial = cert.serial.clone();
    let err = bulk.bulk_load(&actor(), taken).unwrap_err();
    assert!(
        matches!(err, RegistryError::DuplicateSerial { .. }),
        "{err}"
    );
    assert_eq!(bulk.tenants().unwrap().len(), 1);
    assert_eq!(bulk.verify_audit().unwrap().events, 3);
}
