//! Property test: random operation sequences applied to the store and to a tiny in-memory
//! model agree on outcomes, tenants, routes, revocations and certificate lineages; the
//! audit chain verifies, and only real changes bump the version.

use std::collections::{BTreeMap, BTreeSet};

use mtls_identity::{RevocationReason, Serial};
use mtls_registry::{
    Changes, Delta, MAX_CHANGES_PER_READ, Recovery, RegistryError, RenewalRequest, RouteId,
    RoutePolicy, Store, TenantLimits, TenantStatus, TenantUpdate,
};
use proptest::prelude::*;

use crate::{Fixture, actor, issue_ok, public_tcp_route, tcp_route, tid};

/// The recovery bound every model renewal uses.
const MAX_RECOVERIES: u32 = 1;

const TENANTS: [&str; 4] = ["acme", "beta", "gamma", "delta"];
const SNIS: [&str; 3] = ["a.example.test", "b.example.test", "c.example.test"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Delete(usize),
    SetStatus(usize, bool),
    Issue(usize),
    Revoke(usize),
    AddRoute(usize, usize),
    RemoveRoute(usize),
    /// `update_tenant` with a new `max_routes` (0..=3): a no-op when it is the same.
    SetMaxRoutes(usize, u32),
    /// `add_tenant_route`: under the tenant's route policy.
    AddTenantRoute(usize, usize),
    /// `renew_certificate` of a picked certificate: (pick, recovery, revoke_presented).
    Renew(usize, bool, bool),
    /// `append_audit_event`, about a tenant or none: an event but no version.
    Append(Option<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TENANTS.len()).prop_map(Op::Create),
        1 => (0..TENANTS.len()).prop_map(Op::Delete),
        2 => (0..TENANTS.len(), any::<bool>()).prop_map(|(t, a)| Op::SetStatus(t, a)),
        3 => (0..TENANTS.len()).prop_map(Op::Issue),
        2 => (0..8usize).prop_map(Op::Revoke),
        3 => (0..TENANTS.len(), 0..SNIS.len()).prop_map(|(t, s)| Op::AddRoute(t, s)),
        1 => (0..8usize).prop_map(Op::RemoveRoute),
        1 => (0..TENANTS.len(), 0..4u32).prop_map(|(t, n)| Op::SetMaxRoutes(t, n)),
        2 => (0..TENANTS.len(), 0..SNIS.len()).prop_map(|(t, s)| Op::AddTenantRoute(t, s)),
        2 => (0..8usize, any::<bool>(), any::<bool>()).prop_map(|(c, r, v)| Op::Renew(c, r, v)),
        1 => proptest::option::of(0..TENANTS.len()).prop_map(Op::Append),
    ]
}

#[derive(Default)]
struct Model {
    tenants: BTreeMap<&'static str, TenantStatus>,
    routes: Vec<(RouteId, &'static str, &'static str)>,
    certs: Vec<(Serial, &'static str, bool)>,
    /// Per certificate (same index as `certs`): its lineage and whether it was recovered.
    lineage: Vec<(Serial, bool)>,
    /// `max_routes` of tenants whose policy was changed (else the default).
    max_routes: BTreeMap<&'static str, u32>,
}

/// The outcome of one operation, by error kind.
fn kind(result: Result<(), RegistryError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(RegistryError::DuplicateTenant { .. }) => "duplicate-tenant",
        Err(RegistryError::UnknownTenant { .. }) => "unknown-tenant",
        Err(RegistryError::TenantAlreadyInStatus { .. }) => "already-in-status",
        Err(RegistryError::TenantSuspended { .. }) => "suspended",
        Err(RegistryError::AlreadyRevoked { .. }) => "already-revoked",
        Err(RegistryError::UnknownSerial { .. }) => "unknown-serial",
        Err(RegistryError::RouteConflict { .. }) => "route-conflict",
        Err(RegistryError::UnknownRoute { .. }) => "unknown-route",
        Err(RegistryError::PolicyViolation { violation, .. }) if violation.rule == "max_routes" => {
            "max-routes"
        }
        Err(RegistryError::RecoveryLimitReached { .. }) => "recovery-limit",
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// The tenant an operation is about, where the operation names one (a pick of a
/// certificate or a route names it only through the model).
fn op_tenant(op: &Op) -> Option<&'static str> {
    match *op {
        Op::Create(t)
        | Op::Delete(t)
        | Op::SetStatus(t, _)
        | Op::Issue(t)
        | Op::AddRoute(t, _)
        | Op::SetMaxRoutes(t, _)
        | Op::AddTenantRoute(t, _) => Some(TENANTS[t]),
        Op::Revoke(_) | Op::RemoveRoute(_) | Op::Renew(..) | Op::Append(_) => None,
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let fail = |e: RegistryError| TestCaseError::fail(e.to_string());
    let f = Fixture::new();
    let s = &*f.store;
    let mut m = Model::default();
    let mut committed = 1u64; // registry.init
    let mut appended = 0u64; // events that are no change
    // Serials and route ids that were never issued, for "unknown" picks.
    let phantom_serial = Serial::random();
    let phantom_route: RouteId = "r-0000000000000000".parse().unwrap();

    // A data-plane view kept up to date by deltas only, checked against a rebuild.
    let mut view = Store::snapshot(s).map_err(fail)?;

    for op in ops {
        let before = committed;
        let (expected, actual) = match *op {
            Op::Create(t) => {
                let name = TENANTS[t];
                let expected = if m.tenants.contains_key(name) {
                    "duplicate-tenant"
                } else {
                    "ok"
                };
                let actual = kind(
                    s.create_tenant(&actor(), &tid(name), name, TenantLimits::default())
                        .map(drop),
                );
                if actual == "ok" {
                    m.tenants.insert(name, TenantStatus::Active);
                }
                (expected, actual)
            }
            Op::Delete(t) => {
                let name = TENANTS[t];
                let expected = if m.tenants.contains_key(name) {
                    "ok"
                } else {
                    "unknown-tenant"
                };
                let result = s.delete_tenant(&actor(), &tid(name));
                if let Ok(deleted) = &result {
                    let mut expect_revoked: Vec<Serial> = m
                        .certs
                        .iter()
                        .filter(|c| c.1 == name && !c.2)
                        .map(|c| c.0.clone())
                        .collect();
                    expect_revoked.sort();
                    prop_assert_eq!(&deleted.revoked, &expect_revoked);
                    prop_assert_eq!(
                        deleted.routes_removed as usize,
                        m.routes.iter().filter(|r| r.1 == name).count()
                    );
                    m.tenants.remove(name);
                    m.max_routes.remove(name);
                    m.routes.retain(|r| r.1 != name);
                    for c in m.certs.iter_mut().filter(|c| c.1 == name) {
                        c.2 = true;
                    }
                }
                (expected, kind(result.map(drop)))
            }
            Op::SetStatus(t, active) => {
                let name = TENANTS[t];
                let status = if active {
                    TenantStatus::Active
                } else {
                    TenantStatus::Suspended
                };
                let expected = match m.tenants.get(name) {
                    None => "unknown-tenant",
                    Some(s) if *s == status => "already-in-status",
                    Some(_) => "ok",
                };
                let actual = kind(s.set_tenant_status(&actor(), &tid(name), status).map(drop));
                if actual == "ok" {
                    m.tenants.insert(name, status);
                }
                (expected, actual)
            }
            Op::Issue(t) => {
                let name = TENANTS[t];
                let expected = match m.tenants.get(name) {
                    None => "unknown-tenant",
                    Some(TenantStatus::Active) => "ok",
                    Some(_) => "suspended",
                };
                let result = s.record_certificate(&actor(), &tid(name), &mut issue_ok());
                if let Ok(cert) = &result {
                    m.certs.push((cert.serial.clone(), name, false));
                    m.lineage.push((cert.serial.clone(), false));
                }
                (expected, kind(result.map(drop)))
            }
            Op::Revoke(pick) => {
                let (serial, expected) = match m.certs.get(pick) {
                    Some((serial, _, true)) => (serial.clone(), "already-revoked"),
                    Some((serial, _, false)) => (serial.clone(), "ok"),
                    None => (phantom_serial.clone(), "unknown-serial"),
                };
                let actual = kind(
                    s.revoke_certificate(&actor(), &serial, RevocationReason::Unspecified)
                        .map(drop),
                );
                if actual == "ok" {
                    m.certs[pick].2 = true;
                }
                (expected, actual)
            }
            Op::AddRoute(t, sni) => {
                let name = TENANTS[t];
                let expected = if !m.tenants.contains_key(name) {
                    "unknown-tenant"
                } else if m.routes.iter().any(|r| r.1 == name && r.2 == SNIS[sni]) {
                    "route-conflict"
                } else {
                    "ok"
                };
                let result = s.add_route(&actor(), &tid(name), tcp_route(SNIS[sni]));
                if let Ok(route) = &result {
                    m.routes.push((route.id.clone(), name, SNIS[sni]));
                }
                (expected, kind(result.map(drop)))
            }
            Op::RemoveRoute(pick) => {
                let (id, expected) = match m.routes.get(pick) {
                    Some(r) => (r.0.clone(), "ok"),
                    None => (phantom_route.clone(), "unknown-route"),
                };
                let actual = kind(s.remove_route(&actor(), &id).map(drop));
                if actual == "ok" {
                    m.routes.remove(pick);
                }
                (expected, actual)
            }
            Op::SetMaxRoutes(t, max) => {
                let name = TENANTS[t];
                let expected = if m.tenants.contains_key(name) {
                    "ok"
                } else {
                    "unknown-tenant"
                };
                let update = TenantUpdate {
                    route_policy: Some(RoutePolicy {
                        max_routes: max,
                        ..RoutePolicy::default()
                    }),
                    ..TenantUpdate::default()
                };
                let actual = kind(s.update_tenant(&actor(), &tid(name), &update).map(drop));
                if actual == "ok" {
                    let old = m.max_routes.insert(name, max);
                    if old.unwrap_or(mtls_registry::DEFAULT_MAX_ROUTES) == max {
                        // The same policy again: no change, no version, no event.
                        committed -= 1;
                    }
                }
                (expected, actual)
            }
            Op::AddTenantRoute(t, sni) => {
                let name = TENANTS[t];
                let count = m.routes.iter().filter(|r| r.1 == name).count();
                let max = m
                    .max_routes
                    .get(name)
                    .copied()
                    .unwrap_or(mtls_registry::DEFAULT_MAX_ROUTES);
                let expected = if !m.tenants.contains_key(name) {
                    "unknown-tenant"
                } else if count + 1 > max as usize {
                    "max-routes"
                } else if m.routes.iter().any(|r| r.1 == name && r.2 == SNIS[sni]) {
                    "route-conflict"
                } else {
                    "ok"
                };
                let result = s.add_tenant_route(&actor(), &tid(name), public_tcp_route(SNIS[sni]));
                if let Ok(route) = &result {
                    m.routes.push((route.id.clone(), name, SNIS[sni]));
                }
                (expected, kind(result.map(drop)))
            }
            Op::Renew(pick, recovery, revoke_presented) => {
                let (serial, expected) = match m.certs.get(pick) {
                    None => (phantom_serial.clone(), "unknown-serial"),
                    Some((serial, _, true)) => (serial.clone(), "already-revoked"),
                    Some((serial, tenant, false)) => {
                        let lineage = &m.lineage[pick].0;
                        let recoveries =
                            m.lineage.iter().filter(|(l, r)| l == lineage && *r).count();
                        let expected = match m.tenants.get(tenant) {
                            None => "unknown-tenant",
                            Some(TenantStatus::Suspended) => "suspended",
                            Some(_) if recovery && recoveries >= MAX_RECOVERIES as usize => {
                                "recovery-limit"
                            }
                            Some(_) => "ok",
                        };
                        (serial.clone(), expected)
                    }
                };
                let request = RenewalRequest {
                    presented: serial,
                    recovery: recovery.then_some(Recovery {
                        max_recoveries: MAX_RECOVERIES,
                    }),
                    revoke_presented,
                };
                let result = s.renew_certificate(&actor(), &request, &mut issue_ok());
                if let Ok(cert) = &result {
                    let tenant = m.certs[pick].1;
                    let lineage = m.lineage[pick].0.clone();
                    prop_assert_eq!(&cert.lineage, &lineage);
                    prop_assert_eq!(cert.recovered, recovery);
                    if recovery || revoke_presented {
                        m.certs[pick].2 = true;
                    }
                    m.certs.push((cert.serial.clone(), tenant, false));
                    m.lineage.push((lineage, recovery));
                }
                (expected, kind(result.map(drop)))
            }
            Op::Append(tenant) => {
                let tenant = tenant.map(|t| tid(TENANTS[t]));
                s.append_audit_event(&actor(), "api.read", tenant.as_ref(), serde_json::json!({}))
                    .map_err(fail)?;
                appended += 1;
                // Not a change: the version stays.
                committed -= 1;
                ("ok", "ok")
            }
        };
        prop_assert_eq!(expected, actual, "{:?}", op);
        if actual == "ok" {
            committed += 1;
        }
        prop_assert_eq!(
            s.version().map_err(fail)?,
            committed,
            "version after {:?}",
            op
        );
        // The change log: a committed change is listed once with its version and tenant;
        // anything else lists nothing.
        let changes = match Store::changes_since(s, before, 10).map_err(fail)? {
            Changes::Listed(list) => list,
            gap => return Err(TestCaseError::fail(format!("{gap:?} after {op:?}"))),
        };
        if committed == before {
            prop_assert!(changes.is_empty(), "{:?} listed {:?}", op, changes);
        } else {
            prop_assert_eq!(changes.len(), 1, "{:?} listed {:?}", op, changes);
            prop_assert_eq!(changes[0].version, committed);
            if let Some(tenant) = op_tenant(op) {
                prop_assert_eq!(changes[0].tenant.as_ref(), Some(&tid(tenant)), "{:?}", op);
            }
        }
        // The delta since the view's version, applied, gives the snapshot a rebuild reads.
        match Store::delta_since(s, view.version()).map_err(fail)? {
            Delta::Tenants {
                version,
                changes,
                tenants,
            } => {
                prop_assert_eq!(version, committed);
                prop_assert_eq!(changes.len() as u64, committed - before);
                view.apply(version, tenants);
            }
            gap => return Err(TestCaseError::fail(format!("{gap:?} after {op:?}"))),
        }
        prop_assert_eq!(&view, &Store::snapshot(s).map_err(fail)?, "after {:?}", op);
    }
    // The whole log, from the registry's creation: every version once, in order.
    let all = match Store::changes_since(s, 0, MAX_CHANGES_PER_READ).map_err(fail)? {
        Changes::Listed(list) => list,
        gap => return Err(TestCaseError::fail(format!("{gap:?} from version 0"))),
    };
    prop_assert_eq!(
        all.iter().map(|c| c.version).collect::<Vec<_>>(),
        (1..=committed).collect::<Vec<_>>()
    );
    // Lineages as stored.
    for (i, (serial, _, _)) in m.certs.iter().enumerate() {
        let stored = s.certificate(serial).map_err(fail)?;
        prop_assert_eq!(&stored.lineage, &m.lineage[i].0);
        prop_assert_eq!(stored.recovered, m.lineage[i].1);
    }

    // Tenants and their status.
    let tenants: BTreeMap<String, TenantStatus> = s
        .tenants()
        .map_err(fail)?
        .into_iter()
        .map(|t| (t.id.to_string(), t.status))
        .collect();
    let model_tenants: BTreeMap<String, TenantStatus> = m
        .tenants
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    prop_assert_eq!(tenants, model_tenants);
    // Routes.
    let routes: BTreeSet<(String, String)> = s
        .routes(None)?
        .into_iter()
        .map(|r| (r.id.to_string(), r.tenant.to_string()))
        .collect();
    let model_routes: BTreeSet<(String, String)> = m
        .routes
        .iter()
        .map(|r| (r.0.to_string(), r.1.to_owned()))
        .collect();
    prop_assert_eq!(routes, model_routes);
    // Revocations, from the store and from the snapshot.
    let revoked: BTreeSet<Serial> = s
        .revoked_certificates()
        .map_err(fail)?
        .into_iter()
        .map(|c| c.serial)
        .collect();
    let model_revoked: BTreeSet<Serial> = m
        .certs
        .iter()
        .filter(|c| c.2)
        .map(|c| c.0.clone())
        .collect();
    prop_assert_eq!(&revoked, &model_revoked);
    let snap = s.snapshot().map_err(fail)?;
    for (serial, tenant, is_revoked) in &m.certs {
        prop_assert_eq!(snap.is_revoked(serial), *is_revoked);
        let admitted = snap.admit(&tid(tenant), serial).is_ok();
        let expect = !is_revoked && m.tenants.get(tenant) == Some(&TenantStatus::Active);
        prop_assert_eq!(admitted, expect);
    }
    // One committed change, one version, one audit event.
    prop_assert_eq!(s.version().map_err(fail)?, committed);
    prop_assert_eq!(s.verify_audit().map_err(fail)?.events, committed + appended);
    Ok(())
}

/// 32 random sequences of up to 40 operations (shrunk to the smallest failing one).
pub fn store_agrees_with_model() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| run(&ops));
    if let Err(e) = result {
        panic!("{e}");
    }
}
