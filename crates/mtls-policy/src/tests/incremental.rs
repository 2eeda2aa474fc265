//! A policy changed tenant by tenant ([`Policy::with_changes`] of the snapshot a delta's
//! [`Snapshot::apply`] gives) against one compiled from scratch ([`Policy::new`] of the
//! snapshot built whole): for any sequence of tenant changes, the snapshots are equal and
//! every lookup (routes of every kind, source addresses, admission) answers the same.

use std::collections::BTreeMap;
use std::net::IpAddr;

use mtls_identity::{Serial, TenantId};
use mtls_registry::{
    RouteId, RouteRecord, Snapshot, SnapshotBuilder, SnapshotTenant, TenantLimits, TenantState,
    TenantStatus,
};
use mtls_route_spec::RouteSpec;
use proptest::prelude::*;

use super::{spec, tid};
use crate::Policy;

const TENANTS: [&str; 3] = ["a", "b", "c"];
const HOSTS: [&str; 4] = ["x.test", "api.x.test", "*.x.test", "y.test"];
const ADDRESSES: [&str; 2] = ["127.0.0.2", "127.0.0.3"];

/// One tenant as the model holds it: status, egress address, routes (id, spec) in creation
/// order, certificates (serial, revoked).
#[derive(Debug, Clone)]
struct ModelTenant {
    active: bool,
    egress: Option<IpAddr>,
    routes: Vec<(RouteId, RouteSpec)>,
    certificates: Vec<(Serial, bool)>,
}

/// One change: the tenant's new state (`None`: deleted).
type Step = (usize, Option<ModelTenant>);

fn route() -> impl Strategy<Value = (RouteId, RouteSpec)> {
    let host = prop::sample::select(&HOSTS[..]);
    let bind = prop::option::of(prop::sample::select(&ADDRESSES[..]));
    prop_oneof![
        3 => (host.clone(), bind).prop_map(|(host, bind)| {
            let bind = bind.map_or(String::new(), |b| format!(r#","egress_bind":"{b}""#));
            let json = format!(r#"{{"kind":"http","host":"{host}","upstreams":["http://10.0.0.1:80"]{bind}}}"#);
            (RouteId::random(), spec(&json))
        }),
        1 => host.prop_map(|host| {
            let sni = host.trim_start_matches("*.");
            let json = format!(r#"{{"kind":"tcp","sni":"{sni}","upstreams":["10.0.0.1:443"]}}"#);
            (RouteId::random(), spec(&json))
        }),
    ]
}

fn tenant() -> impl Strategy<Value = ModelTenant> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(&ADDRESSES[..])),
        prop::collection::vec(route(), 0..4),
        prop::collection::vec(any::<bool>(), 0..3),
    )
        .prop_map(|(active, egress, routes, revoked)| ModelTenant {
            active,
            egress: egress.map(|a| a.parse().unwrap()),
            routes,
            certificates: revoked.into_iter().map(|r| (Serial::random(), r)).collect(),
        })
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0..TENANTS.len(), prop::option::of(tenant())), 1..10)
}

fn snapshot_tenant(model: &ModelTenant) -> SnapshotTenant {
    SnapshotTenant {
        display_name: "T".into(),
        status: if model.active {
            TenantStatus::Active
        } else {
            TenantStatus::Suspended
        },
        limits: TenantLimits::default(),
        egress_address: model.egress,
    }
}

fn records(id: &TenantId, model: &ModelTenant) -> Vec<RouteRecord> {
    let at = time::OffsetDateTime::UNIX_EPOCH;
    model
        .routes
        .iter()
        .map(|(route, spec)| RouteRecord {
            id: route.clone(),
            tenant: id.clone(),
            spec: spec.clone().into(),
            created_at: at,
        })
        .collect()
}

/// The snapshot built whole from the model at `version`. Certificates of deleted tenants
/// are gone with them (as the registry's delta reports them).
fn rebuild(version: u64, model: &BTreeMap<TenantId, ModelTenant>) -> Snapshot {
    let mut b = SnapshotBuilder::new(version, "gw.test".parse().unwrap());
    for (id, t) in model {
        b.tenant(id.clone(), snapshot_tenant(t)).unwrap();
    }
    for (id, t) in model {
        for record in records(id, t) {
            b.route(record).unwrap();
        }
        for (serial, revoked) in &t.certificates {
            b.certificate(serial.clone(), id.clone(), *revoked).unwrap();
        }
    }
    b.build()
}

/// Every lookup of `a` and `b` answers the same for every tenant and route.
fn assert_same_answers(a: &Policy, b: &Policy, model: &BTreeMap<TenantId, ModelTenant>) {
    assert_eq!(a.snapshot(), b.snapshot());
    assert_eq!(a.table().len(), b.table().len());
    assert_eq!(a.table().tenants(), b.table().tenants());
    for name in TENANTS {
        let tenant = tid(name);
        for host in ["x.test", "api.x.test", "z.x.test", "y.test", "nope.test"] {
            let http = |p: &Policy| p.route_http(&tenant, host, "/").map(|m| m.key.clone());
            assert_eq!(http(a), http(b), "tenant {name}, host {host}");
            let tcp = |p: &Policy| p.route_tcp(&tenant, host).map(|m| m.key.clone());
            assert_eq!(tcp(a), tcp(b), "tenant {name}, sni {host}");
        }
        for t in model.values() {
            for (serial, _) in &t.certificates {
                assert_eq!(
                    a.snapshot().admit(&tenant, serial).map(|t| t.status),
                    b.snapshot().admit(&tenant, serial).map(|t| t.status)
                );
            }
            for (route, _) in &t.routes {
                assert_eq!(a.egress_of(&tenant, route), b.egress_of(&tenant, route));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn changes_applied_tenant_by_tenant_equal_a_rebuild(steps in steps()) {
        let mut model: BTreeMap<TenantId, ModelTenant> = BTreeMap::new();
        let mut policy = Policy::new(rebuild(1, &model));
        // Serials removed with a deleted tenant, to check they no longer admit.
        let mut gone: Vec<(TenantId, Serial)> = Vec::new();
        for (version, (t, state)) in (2u64..).zip(steps) {
            let id = tid(TENANTS[t]);
            if let Some(old) = model.get(&id) {
                gone.extend(old.certificates.iter().map(|(s, _)| (id.clone(), s.clone())));
            }
            match &state {
                Some(new) => model.insert(id.clone(), new.clone()),
                None => model.remove(&id),
            };
            let delta = TenantState {
                id: id.clone(),
                tenant: state.as_ref().map(snapshot_tenant),
                routes: state.as_ref().map_or_else(Vec::new, |s| records(&id, s)),
                certificates: state.as_ref().map_or_else(Vec::new, |s| s.certificates.clone()),
            };
            let before = policy.clone();
            let mut snapshot = policy.snapshot().clone();
            snapshot.apply(version, vec![delta]);
            let changed = policy.with_changes(snapshot, [&id]);
            let rebuilt = Policy::new(rebuild(version, &model));
            assert_same_answers(&changed, &rebuilt, &model);
            for (tenant, serial) in &gone {
                let still = model.get(tenant).is_some_and(|t| t.certificates.iter().any(|(s, _)| s == serial));
                if !still {
                    prop_assert!(changed.snapshot().admit(tenant, serial).is_err());
                }
            }
            // Untouched tenants share their part with the policy changed from.
            for other in TENANTS.iter().map(|n| tid(n)).filter(|o| *o != id) {
                prop_assert!(changed.snapshot().shares_tenant(before.snapshot(), &other));
            }
            policy = changed;
        }
    }
}
