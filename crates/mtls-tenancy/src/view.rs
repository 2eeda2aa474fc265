//! One published state of the registry: the decision policy (snapshot + route table, from
//! `mtls-policy`), HTTP targets, per-tenant limiters.
//!
//! Every map of a view is persistent (`immutable-chunkmap`): [`View::with_changes`] builds
//! the view after a registry delta by recompiling the touched tenants only, sharing
//! everything else with the view before it, so a change costs time and memory in proportion
//! to what it touched. [`View::build`] compiles every tenant (start-up, a gap in the change
//! log, a replaced registry file, new route identities).
//!
//! HTTP targets (upstream clients, connection pools, TLS settings) are compiled when a
//! change adds or alters a route, or, for the routes a listener starts with, at the route's
//! first request: a registry of a million routes does not hold a million idle clients.

use std::cmp::Ordering as By;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mtls_identity::TenantId;
use mtls_metrics::Metrics;
use mtls_persistent_map::Map;
use mtls_policy::{EgressSource, Policy};
use mtls_registry::{RouteId, Snapshot};
use mtls_route_spec::RouteSpec;
use tracing::error;

use crate::chain::ErrorChain;
use crate::limiter::{self, Limiters};
pub(crate) use crate::targets::RouteCompiler;
#[cfg(test)]
use crate::targets::{CompiledRoute, TargetResult};

/// What a [`View`] was compiled from: which copy of the registry (the source's
/// [`generation`](mtls_registry::SnapshotSource::generation)), its version, and the route
/// identities' generation (bumped by every certificate reload).
///
/// Views are only ever replaced by views whose stamp [`supersedes`](Self::supersedes) theirs:
/// a slow compile that started from an older registry state can never bring it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The snapshot source's generation the snapshot was read at.
    pub(crate) generation: u64,
    /// The snapshot's registry version.
    pub(crate) version: u64,
    /// The route identities' generation the HTTP routes were compiled under (0 without
    /// route identities). Read before compiling, so it never claims newer identities than
    /// the view holds.
    pub(crate) identities: u64,
}

// === impl Stamp ===

impl Stamp {
    /// Whether a view stamped `self` may replace one stamped `current`: the registry state
    /// (generation, then version: a replaced file may carry any version) does not go back,
    /// nor do the identities, and at least one of them moves forward.
    pub(crate) fn supersedes(&self, current: &Stamp) -> bool {
        let registry = self.registry().cmp(&current.registry());
        registry != By::Less
            && self.identities >= current.identities
            && (registry == By::Greater || self.identities > current.identities)
    }

    /// The registry state: (source generation, version), ordered.
    pub(crate) fn registry(&self) -> (u64, u64) {
        (self.generation, self.version)
    }
}

/// Everything a request needs from the registry, immutable once published: one compiled
/// registry snapshot of a gateway listener.
pub struct View {
    /// What this view was compiled from.
    pub(crate) stamp: Stamp,
    /// The snapshot and its route table: admission and route lookups go through it, the
    /// same functions `tenantctl explain` prints.
    pub(crate) policy: Policy,
    /// Per-tenant limiters and metric handles (reused across views while unchanged).
    pub(crate) limiters: Limiters,
    /// Round-robin cursors of TCP routes.
    tcp_cursor: Map<RouteId, Arc<AtomicUsize>>,
    /// What the HTTP targets are compiled with.
    pub(crate) compiler: Arc<RouteCompiler>,
}

// === impl View ===

impl View {
    /// Compiles `snapshot`, read at source generation `generation`, every tenant. The
    /// limiters of `previous` whose tenant's limits are unchanged are reused, as are the TCP
    /// routes' round-robin cursors. HTTP targets live in the compiler, shared by every view:
    /// with a `previous` view, the compiled routes the snapshot holds in another version are
    /// compiled again now and those it no longer holds are dropped (blocking: call it on the
    /// blocking pool); a route whose spec and source address are unchanged keeps its target,
    /// so its connection pool and failure marks survive unrelated changes (a route whose
    /// source changed gets a new target: no pooled connection bound to the old address is
    /// reused). Every other target is compiled at its route's first request.
    pub(crate) fn build(
        snapshot: Snapshot,
        generation: u64,
        previous: Option<&View>,
        metrics: &Arc<Metrics>,
        compiler: &Arc<RouteCompiler>,
    ) -> Self {
        // Read once, before compiling: the stamp never claims newer identities than the
        // routes were compiled with.
        let identities = compiler.identities_generation();
        let stamp = Stamp {
            generation,
            version: snapshot.version(),
            identities,
        };
        let policy = Policy::new(snapshot);
        let snapshot = policy.snapshot();
        let mut tcp_cursor = Vec::new();
        for (tenant, _) in snapshot.tenants() {
            for record in snapshot.routes(tenant) {
                if let RouteSpec::Tcp(_) = &*record.spec {
                    let cursor = previous
                        .and_then(|p| p.tcp_cursor.get(&record.id))
                        .cloned()
                        .unwrap_or_default();
                    tcp_cursor.push((record.id.clone(), cursor));
                }
            }
        }
        if previous.is_some() {
            compiler.settle(snapshot);
        }
        let listener = &compiler.listener;
        let tenants = snapshot.tenants().map(|(id, _)| id);
        warn_unheld_egress(snapshot, previous.map(View::snapshot), tenants, listener);
        let limiters = limiter::build(snapshot, previous.map(|p| &p.limiters), metrics, listener);
        Self {
            stamp,
            policy,
            limiters,
            tcp_cursor: mtls_persistent_map::from_entries(tcp_cursor),
            compiler: compiler.clone(),
        }
    }

    /// The view of `snapshot` (read at source generation `generation`), compiled from
    /// `self` by recompiling the `touched` tenants only: their route table parts, limiters,
    /// TCP cursors and HTTP targets. `snapshot` must differ from `self`'s snapshot in those
    /// tenants only (it is `self`'s snapshot with a delta applied that lists them). The
    /// touched tenants' HTTP routes that are new or changed are compiled now (blocking: call
    /// it on the blocking pool), so a broken one is reported when the change arrives.
    /// Equivalent to [`build`](Self::build) from `self` under the same route identities.
    pub(crate) fn with_changes(
        &self,
        snapshot: Snapshot,
        generation: u64,
        touched: &[TenantId],
        metrics: &Arc<Metrics>,
    ) -> Self {
        let stamp = Stamp {
            generation,
            version: snapshot.version(),
            identities: self.stamp.identities,
        };
        let policy = self.policy.with_changes(snapshot, touched);
        let snapshot = policy.snapshot();
        let mut tcp_cursor = self.tcp_cursor.clone();
        let mut gone = Vec::new();
        for tenant in touched {
            let now = snapshot.routes(tenant);
            for old in self.snapshot().routes(tenant) {
                tcp_cursor.remove_cow(&old.id);
                let kept = now
                    .iter()
                    .any(|r| r.id == old.id && matches!(&*r.spec, RouteSpec::Http(_)));
                if !kept {
                    gone.push(old.id.clone());
                }
            }
            let address = snapshot.tenant(tenant).and_then(|t| t.egress_address);
            for record in snapshot.routes(tenant) {
                match &*record.spec {
                    RouteSpec::Http(_) => {
                        let egress = EgressSource::of_route(&record.spec, address);
                        self.compiler
                            .compile_now(tenant, &record.id, &record.spec, egress);
                    }
                    RouteSpec::Tcp(_) => {
                        let cursor = self.tcp_cursor.get(&record.id).cloned().unwrap_or_default();
                        tcp_cursor.insert_cow(record.id.clone(), cursor);
                    }
                    _ => {}
                }
            }
        }
        // Routes of the touched tenants that are gone (or no longer HTTP) leave the
        // compiler's table.
        self.compiler.forget(&gone);
        let listener = &self.compiler.listener;
        warn_unheld_egress(snapshot, Some(self.snapshot()), touched.iter(), listener);
        let mut limiters = self.limiters.clone();
        limiter::update(&mut limiters, snapshot, touched, metrics, listener);
        Self {
            stamp,
            policy,
            limiters,
            tcp_cursor,
            compiler: self.compiler.clone(),
        }
    }

    /// Tenant `tenant`'s route `id` as this view holds it, with the source address its
    /// upstream connections leave from: a look through the tenant's own routes.
    pub(crate) fn http_route(
        &self,
        tenant: &TenantId,
        id: &RouteId,
    ) -> Option<(&Arc<RouteSpec>, EgressSource)> {
        let snapshot = self.snapshot();
        let address = snapshot.tenant(tenant).and_then(|t| t.egress_address);
        let record = snapshot.routes(tenant).iter().find(|r| r.id == *id)?;
        Some((&record.spec, EgressSource::of_route(&record.spec, address)))
    }

    /// The decision policy (snapshot + route table) of this view.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The registry snapshot this view was compiled from.
    pub fn snapshot(&self) -> &Snapshot {
        self.policy.snapshot()
    }

    /// The next upstream index of a TCP route with `len` upstreams (round-robin).
    pub(crate) fn next_tcp_upstream(&self, route: &RouteId, len: usize) -> usize {
        self.tcp_cursor
            .get(route)
            .map_or(0, |c| c.fetch_add(1, Ordering::Relaxed))
            % len.max(1)
    }
}

#[cfg(test)]
impl View {
    /// The compiler's entry standing for route `id` as this view holds it, if compiled.
    pub(crate) fn compiled_route(&self, id: &RouteId) -> Option<Arc<CompiledRoute>> {
        let snapshot = self.snapshot();
        let (tenant, _) = snapshot
            .tenants()
            .find(|(t, _)| snapshot.routes(t).iter().any(|r| r.id == *id))?;
        let (spec, egress) = self.http_route(tenant, id)?;
        self.compiler.current(id, spec, egress)
    }

    /// Route `id`'s target, compiled now (blocking) unless it is already.
    pub(crate) fn target_now(&self, id: &RouteId) -> TargetResult {
        let snapshot = self.snapshot();
        let Some((tenant, _)) = snapshot
            .tenants()
            .find(|(t, _)| snapshot.routes(t).iter().any(|r| r.id == *id))
        else {
            return Err(format!("route {id} is not in the view"));
        };
        let Some((spec, egress)) = self.http_route(tenant, id) else {
            return Err(format!("route {id} is not an HTTP route"));
        };
        let route = self.compiler.compile_now(tenant, id, spec, egress);
        route.compile(&self.compiler).clone()
    }
}

/// Logs, once per change, every egress address of the `tenants` this host cannot bind
/// (removed from its interface, or never on this host): that tenant's routes without their
/// own `egress_bind` fail at dial time (502 naming the address) until it is back or
/// changed. One `bind` per changed address; nothing on the request path.
fn warn_unheld_egress<'t>(
    snapshot: &Snapshot,
    previous: Option<&Snapshot>,
    tenants: impl IntoIterator<Item = &'t TenantId>,
    listener: &str,
) {
    for tenant in tenants {
        let Some(address) = snapshot.tenant(tenant).and_then(|t| t.egress_address) else {
            continue;
        };
        let before = previous
            .and_then(|p| p.tenant(tenant))
            .and_then(|t| t.egress_address);
        if before == Some(address) {
            continue;
        }
        if let Err(e) = mtls_egress::check_local_address(address) {
            error!(
                listener, %tenant, egress = %address, error = %ErrorChain(&e),
                "tenant egress address unusable: routes without their own egress_bind will fail with 502 until it is held again or changed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use mtls_http_proxy::{RouteTarget, TargetOptions};
    use mtls_registry::{RouteRecord, SnapshotBuilder, SnapshotTenant, TenantLimits, TenantStatus};
    use mtls_route_spec::HttpRoute;

    use super::*;

    /// Tenant `a` with the egress address `egress`, and two HTTP routes: `shared` (no
    /// `egress_bind`) and `own` (`egress_bind` 127.0.0.9), with fixed ids.
    fn snapshot(version: u64, egress: Option<IpAddr>, shared: &RouteId, own: &RouteId) -> Snapshot {
        let a: TenantId = "a".parse().unwrap();
        let mut b = SnapshotBuilder::new(version, "gw.test".parse().unwrap());
        b.tenant(
            a.clone(),
            SnapshotTenant {
                display_name: "A".into(),
                status: TenantStatus::Active,
                limits: TenantLimits::default(),
                egress_address: egress,
            },
        )
        .unwrap();
        let mut own_spec = HttpRoute::new(
            "own.a.test".parse().unwrap(),
            vec!["http://127.0.0.1:9".parse().unwrap()],
        );
        own_spec.egress_bind = Some("127.0.0.9".parse().unwrap());
        own_spec.allow_private = true;
        let mut shared_spec = own_spec.clone();
        shared_spec.host = "a.test".parse().unwrap();
        shared_spec.egress_bind = None;
        for (id, spec) in [(shared, shared_spec), (own, own_spec)] {
            b.route(RouteRecord {
                id: id.clone(),
                tenant: a.clone(),
                spec: spec.into(),
                created_at: time::OffsetDateTime::now_utc(),
            })
            .unwrap();
        }
        b.build()
    }

    fn target(view: &View, id: &RouteId) -> Arc<RouteTarget> {
        view.target_now(id).unwrap()
    }

    /// A tenant's new egress address gets its routes without an `egress_bind` a new target
    /// (so a new connection pool: nothing pooled from the old address is reused), bound to
    /// the new address; routes with their own `egress_bind` keep theirs.
    #[test]
    fn a_changed_tenant_address_recompiles_the_routes_that_use_it() {
        let (shared, own) = (RouteId::random(), RouteId::random());
        let metrics = Arc::new(Metrics::new());
        let compiler = Arc::new(RouteCompiler::new(
            TargetOptions::default(),
            "gw".into(),
            None,
        ));
        let build = |snapshot, previous: Option<&View>| {
            View::build(snapshot, 1, previous, &metrics, &compiler)
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();

        let v1 = build(snapshot(1, None, &shared, &own), None);
        assert_eq!(target(&v1, &shared).source(), None);
        assert_eq!(target(&v1, &own).source(), Some(ip("127.0.0.9")));
        assert_eq!(
            v1.compiled_route(&shared).unwrap().egress,
            EgressSource::DEFAULT
        );

        let v2 = build(snapshot(2, Some(ip("127.0.0.2")), &shared, &own), Some(&v1));
        assert!(!Arc::ptr_eq(&target(&v1, &shared), &target(&v2, &shared)));
        assert_eq!(target(&v2, &shared).source(), Some(ip("127.0.0.2")));
        assert_eq!(
            v2.compiled_route(&shared).unwrap().egress.origin,
            mtls_policy::EgressOrigin::Tenant
        );
        assert!(Arc::ptr_eq(&target(&v1, &own), &target(&v2, &own)));
        assert_eq!(
            v2.compiled_route(&own).unwrap().egress.origin,
            mtls_policy::EgressOrigin::Route
        );

        // An unrelated new version (same address): both targets are reused.
        let v3 = build(snapshot(3, Some(ip("127.0.0.2")), &shared, &own), Some(&v2));
        assert!(Arc::ptr_eq(&target(&v2, &shared), &target(&v3, &shared)));
        assert!(Arc::ptr_eq(&target(&v2, &own), &target(&v3, &own)));

        // Another address, then none: recompiled each time.
        let v4 = build(snapshot(4, Some(ip("127.0.0.3")), &shared, &own), Some(&v3));
        assert_eq!(target(&v4, &shared).source(), Some(ip("127.0.0.3")));
        let v5 = build(snapshot(5, None, &shared, &own), Some(&v4));
        assert!(!Arc::ptr_eq(&target(&v4, &shared), &target(&v5, &shared)));
        assert_eq!(target(&v5, &shared).source(), None);
    }

    fn stamp(generation: u64, version: u64, identities: u64) -> Stamp {
        Stamp {
            generation,
            version,
            identities,
        }
    }

    #[test]
    fn only_forward_moves_supersede() {
        let current = stamp(1, 10, 3);
        // Forward: a newer version, a replaced file (any version), newer identities.
        assert!(stamp(1, 11, 3).supersedes(&current));
        assert!(stamp(2, 1, 3).supersedes(&current));
        assert!(stamp(1, 10, 4).supersedes(&current));
        assert!(stamp(1, 11, 4).supersedes(&current));
        // Not forward: the same, an older version or file, older identities, or a mix.
        assert!(!stamp(1, 10, 3).supersedes(&current));
        assert!(!stamp(1, 9, 3).supersedes(&current));
        assert!(!stamp(0, 99, 3).supersedes(&current));
        assert!(!stamp(1, 10, 2).supersedes(&current));
        assert!(!stamp(1, 11, 2).supersedes(&current));
        assert!(!stamp(1, 9, 4).supersedes(&current));
    }
}
