//! `add_tenant_route`: a tenant's own routes, under its route policy, checked inside the
//! write transaction.

use std::sync::{Arc, Barrier};
use std::thread;

use mtls_registry::{RegistryError, RoutePolicy, Store, TenantUpdate};
use serde_json::json;

use crate::{Fixture, actor, events, public_tcp_route, tcp_route, tid, version};

fn set_policy(f: &Fixture, tenant: &str, policy: RoutePolicy) {
    f.store
        .update_tenant(
            &actor(),
            &tid(tenant),
            &TenantUpdate {
                route_policy: Some(policy),
                ..TenantUpdate::default()
            },
        )
        .unwrap();
}

fn policy_rule(err: &RegistryError) -> &'static str {
    match err {
        RegistryError::PolicyViolation { violation, .. } => violation.rule,
        other => panic!("expected PolicyViolation, got {other:?}"),
    }
}

pub fn a_tenant_route_within_the_policy_is_added_and_audited_as_self_service() {
    let f = Fixture::new();
    f.tenant("acme");
    let route = f
        .store
        .add_tenant_route(&actor(), &tid("acme"), public_tcp_route("db.acme.test"))
        .unwrap();
    assert_eq!(
        f.store.routes(Some(&tid("acme"))).unwrap(),
        vec![route.clone()]
    );
    let adds = events(&*f.store, "route.add");
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].details["self_service"], json!(true));
    assert_eq!(adds[0].details["route"], json!(route.id.as_str()));
    // An admin's route carries no self_service mark.
    f.store
        .add_route(&actor(), &tid("acme"), tcp_route("admin.acme.test"))
        .unwrap();
    let adds = events(&*f.store, "route.add");
    assert!(adds[1].details.get("self_service").is_none());
    assert_eq!(
        Store::snapshot(&*f.store)
            .unwrap()
            .routes(&tid("acme"))
            .len(),
        2
    );
}

pub fn the_stored_policy_is_what_is_checked_and_a_refusal_changes_nothing() {
    let f = Fixture::new();
    f.tenant("acme");
    // The default policy refuses private destinations, which an admin may add.
    let v = version(&*f.store);
    let err = f
        .store
        .add_tenant_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap_err();
    assert_eq!(policy_rule(&err), "allow_private");
    assert!(err.to_string().contains("acme"), "{err}");
    assert_eq!(version(&*f.store), v);
    assert!(f.store.routes(Some(&tid("acme"))).unwrap().is_empty());

    set_policy(
        &f,
        "acme",
        RoutePolicy {
            allow_private: true,
            ..RoutePolicy::default()
        },
    );
    f.store
        .add_tenant_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap();

    // max_routes counts the routes an admin added too.
    set_policy(
        &f,
        "acme",
        RoutePolicy {
            max_routes: 2,
            ..RoutePolicy::default()
        },
    );
    f.store
        .add_route(&actor(), &tid("acme"), tcp_route("admin.acme.test"))
        .unwrap();
    let err = f
        .store
        .add_tenant_route(&actor(), &tid("acme"), public_tcp_route("more.acme.test"))
        .unwrap_err();
    assert_eq!(policy_rule(&err), "max_routes");
    assert!(err.to_string().contains("already has 2"), "{err}");
    f.store.verify_audit().unwrap();
}

pub fn egress_bind_is_allowed_only_to_the_tenants_own_address() {
    let f = Fixture::new();
    f.tenant("acme");
    let bound: mtls_route_spec::RouteSpec = serde_json::from_value(json!({
        "kind": "tcp", "sni": "db.acme.test", "upstreams": ["db.example.com:5432"],
        "egress_bind": "192.0.2.10",
    }))
    .unwrap();
    let err = f
        .store
        .add_tenant_route(&actor(), &tid("acme"), bound.clone())
        .unwrap_err();
    assert_eq!(policy_rule(&err), "egress_bind");
    f.store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                egress_address: Some(Some("192.0.2.10".parse().unwrap())),
                ..TenantUpdate::default()
            },
        )
        .unwrap();
    f.store
        .add_tenant_route(&actor(), &tid("acme"), bound)
        .unwrap();
}

pub fn add_route_errors_come_before_or_beside_the_policy() {
    let f = Fixture::new();
    f.tenant("acme");
    let err = f
        .store
        .add_tenant_route(&actor(), &tid("ghost"), public_tcp_route("db.acme.test"))
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownTenant { .. }), "{err}");
    let first = f
        .store
        .add_tenant_route(&actor(), &tid("acme"), public_tcp_route("db.acme.test"))
        .unwrap();
    let err = f
        .store
        .add_tenant_route(&actor(), &tid("acme"), public_tcp_route("db.acme.test"))
        .unwrap_err();
    match err {
        RegistryError::RouteConflict { existing, .. } => assert_eq!(existing, first.id),
        other => panic!("expected RouteConflict, got {other:?}"),
    }
    // A suspended tenant may still manage its routes, as with add_route.
    f.store
        .set_tenant_status(
            &actor(),
            &tid("acme"),
            mtls_registry::TenantStatus::Suspended,
        )
        .unwrap();
    f.store
        .add_tenant_route(&actor(), &tid("acme"), public_tcp_route("other.acme.test"))
        .unwrap();
}

/// Adds `count` distinct routes to `tenant` from one handle, returning each outcome.
fn add_many(
    store: &dyn Store,
    tenant: &str,
    thread: usize,
    count: usize,
) -> Vec<Result<(), RegistryError>> {
    (0..count)
        .map(|i| {
            store
                .add_tenant_route(
                    &actor(),
                    &tid(tenant),
                    public_tcp_route(&format!("r{thread}-{i}.{tenant}.test")),
                )
                .map(|_| ())
        })
        .collect()
}

pub fn concurrent_tenant_routes_never_overshoot_max_routes() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 10;
    const MAX: u32 = 37;
    let f = Fixture::new();
    f.tenant("acme");
    set_policy(
        &f,
        "acme",
        RoutePolicy {
            max_routes: MAX,
            ..RoutePolicy::default()
        },
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            // One handle (connection) per thread: the writers really contend for the file.
            let store = f.reopen();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                add_many(&*store, "acme", t, PER_THREAD)
            })
        })
        .collect();
    let mut added = 0;
    for h in handles {
        for outcome in h.join().unwrap() {
            match outcome {
                Ok(()) => added += 1,
                Err(e) => assert_eq!(policy_rule(&e), "max_routes"),
            }
        }
    }
    assert_eq!(added, MAX as usize, "exactly max_routes additions succeed");
    assert_eq!(
        f.store.routes(Some(&tid("acme"))).unwrap().len(),
        MAX as usize
    );
    assert_eq!(events(&*f.store, "route.add").len(), MAX as usize);
    f.store.verify_audit().unwrap();
}

pub fn concurrent_tenant_routes_of_two_tenants_all_land() {
    const THREADS_PER_TENANT: usize = 5;
    const PER_THREAD: usize = 10;
    let f = Fixture::new();
    for tenant in ["acme", "globex"] {
        f.tenant(tenant);
        set_policy(
            &f,
            tenant,
            RoutePolicy {
                max_routes: 1000,
                ..RoutePolicy::default()
            },
        );
    }
    let v0 = version(&*f.store);
    let barrier = Arc::new(Barrier::new(2 * THREADS_PER_TENANT));
    let handles: Vec<_> = ["acme", "globex"]
        .into_iter()
        .flat_map(|tenant| (0..THREADS_PER_TENANT).map(move |t| (tenant, t)))
        .map(|(tenant, t)| {
            let store = f.reopen();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                add_many(&*store, tenant, t, PER_THREAD)
            })
        })
        .collect();
    for h in handles {
        for outcome in h.join().unwrap() {
            outcome.unwrap();
        }
    }
    let total = THREADS_PER_TENANT * PER_THREAD;
    for tenant in ["acme", "globex"] {
        let routes = f.store.routes(Some(&tid(tenant))).unwrap();
        assert_eq!(routes.len(), total, "{tenant}");
        let audited: Vec<_> = events(&*f.store, "route.add")
            .into_iter()
            .filter(|e| e.tenant == Some(tid(tenant)))
            .map(|e| e.details["route"].as_str().unwrap().to_owned())
            .collect();
        let mut stored: Vec<_> = routes.iter().map(|r| r.id.as_str().to_owned()).collect();
        let mut audited_sorted = audited.clone();
        stored.sort();
        audited_sorted.sort();
        assert_eq!(
            stored, audited_sorted,
            "every route of {tenant} is in the audit log"
        );
    }
    assert_eq!(version(&*f.store), v0 + 2 * total as u64, "no lost update");
    let report = f.store.verify_audit().unwrap();
    assert_eq!(report.events as usize, events_total(&*f.store));
}

fn events_total(store: &dyn Store) -> usize {
    store
        .audit_events(&mtls_registry::AuditFilter::default())
        .unwrap()
        .len()
}
