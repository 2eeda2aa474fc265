//! The HTTP targets of a gateway listener (upstream clients, connection pools, TLS
//! settings): compiled when a change adds or alters a route, or at the route's first
//! request, and kept in one table per listener that every view of it shares.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use mtls_http_proxy::{RouteTarget, TargetOptions};
use mtls_identity::TenantId;
use mtls_metrics::Name;
use mtls_persistent_map::Map;
use mtls_policy::EgressSource;
use mtls_registry::{RouteId, Snapshot};
use mtls_route_spec::{HttpRoute, RouteSpec};
use tracing::error;

use crate::chain::ErrorChain;
use crate::route_identities::RouteIdentities;

/// What an HTTP target is compiled with (the listener's target options and route
/// identities), and the HTTP routes compiled so far. One per listener, shared by its views.
///
/// A route's target is compiled when a change adds or alters the route, or at its first
/// request; the compiled routes are kept here, by route id, for every view of the listener.
/// Each use checks that the entry still stands for the route the view holds (the same spec,
/// source address and, for routes naming a client identity, identities), so a view never
/// uses a target compiled for another version of its route.
pub(crate) struct RouteCompiler {
    pub(crate) options: TargetOptions,
    pub(crate) listener: Name,
    pub(crate) identities: Option<Arc<RouteIdentities>>,
    /// The compiled HTTP routes: read without a lock; written (copy-on-write) when a route
    /// is compiled or removed.
    compiled: ArcSwap<Map<RouteId, Arc<CompiledRoute>>>,
}

// === impl RouteCompiler ===

impl RouteCompiler {
    /// A compiler with nothing compiled yet.
    pub(crate) fn new(
        options: TargetOptions,
        listener: Name,
        identities: Option<Arc<RouteIdentities>>,
    ) -> Self {
        Self {
            options,
            listener,
            identities,
            compiled: ArcSwap::from_pointee(Map::new()),
        }
    }

    /// The route identities' generation now (0 without route identities).
    pub(crate) fn identities_generation(&self) -> u64 {
        self.identities
            .as_deref()
            .map_or(0, RouteIdentities::generation)
    }

    /// The compiled entry of route `id`, whatever version of the route it was compiled for.
    pub(crate) fn compiled(&self, id: &RouteId) -> Option<Arc<CompiledRoute>> {
        self.compiled.load().get(id).cloned()
    }

    /// The compiled entry of route `id` if it stands for `spec` leaving from `egress` under
    /// the identities now.
    pub(crate) fn current(
        &self,
        id: &RouteId,
        spec: &Arc<RouteSpec>,
        egress: EgressSource,
    ) -> Option<Arc<CompiledRoute>> {
        let identities = self.identities_generation();
        self.compiled(id)
            .filter(|c| c.reusable_for(spec, egress, identities))
    }

    /// The compiled route `id` (`spec`, leaving from `egress`): the current entry, or one
    /// compiled now and kept. Blocking (may read a CA file): call it on the blocking pool.
    pub(crate) fn compile_now(
        &self,
        tenant: &TenantId,
        id: &RouteId,
        spec: &Arc<RouteSpec>,
        egress: EgressSource,
    ) -> Arc<CompiledRoute> {
        let current = self.current(id, spec, egress);
        if let Some(current) = &current
            && Arc::ptr_eq(&current.spec, spec)
        {
            current.compile(self);
            return current.clone();
        }
        let route = CompiledRoute::new(tenant, id, spec, self.identities_generation(), egress);
        match current.as_ref().and_then(|c| c.compiled_target()) {
            // The same route read again (a full rebuild parses every spec anew): the entry
            // moves to the new copy of the spec, keeping its target and pool, so that uses
            // compare pointers, not specs.
            Some(target) => {
                let _ = route.target.set(target.clone());
            }
            None => {
                route.compile(self);
            }
        }
        let route = Arc::new(route);
        self.compiled.rcu(|map| {
            let mut map = Map::clone(map);
            map.insert_cow(id.clone(), route.clone());
            map
        });
        route
    }

    /// The target of route `id` for a request: the compiled one, or compiled now on the
    /// blocking pool (the route's first request, or its first since it changed).
    pub(crate) async fn target(
        self: &Arc<Self>,
        tenant: &TenantId,
        id: &RouteId,
        spec: &Arc<RouteSpec>,
        egress: EgressSource,
    ) -> TargetResult {
        if let Some(current) = self.current(id, spec, egress)
            && let Some(target) = current.compiled_target()
        {
            return target.clone();
        }
        let compiler = self.clone();
        let (tenant, id, spec) = (tenant.clone(), id.clone(), spec.clone());
        tokio::task::spawn_blocking(move || {
            let route = compiler.compile_now(&tenant, &id, &spec, egress);
            route.compile(&compiler).clone()
        })
        .await
        .unwrap_or_else(|e| Err(format!("compiling the route's upstream target failed: {e}")))
    }

    /// After a full rebuild to `snapshot`: forgets the compiled routes it no longer holds,
    /// and compiles again now (blocking) those it holds in another version (spec, source
    /// address, identities), so that only what changed is compiled and a broken route is
    /// reported when the change arrives. Costs the compiled routes, not every route. (A
    /// delta does the same for the touched tenants' routes only.)
    pub(crate) fn settle(&self, snapshot: &Snapshot) {
        let compiled = self.compiled.load_full();
        let mut gone = Vec::new();
        for (id, route) in &*compiled {
            let tenant = snapshot.tenant(&route.tenant);
            let record = snapshot.routes(&route.tenant).iter().find(|r| r.id == *id);
            match (tenant, record) {
                (Some(tenant), Some(record)) if matches!(&*record.spec, RouteSpec::Http(_)) => {
                    let egress = EgressSource::of_route(&record.spec, tenant.egress_address);
                    self.compile_now(&route.tenant, id, &record.spec, egress);
                }
                _ => gone.push(id.clone()),
            }
        }
        self.forget(&gone);
    }

    /// Drops the compiled routes `ids` (routes a change removed).
    pub(crate) fn forget(&self, ids: &[RouteId]) {
        if ids.is_empty() {
            return;
        }
        self.compiled.rcu(|map| {
            let mut map = Map::clone(map);
            for id in ids {
                map.remove_cow(id);
            }
            map
        });
    }
}

/// A compiled HTTP route result: the target, or why it cannot be compiled (a missing CA
/// file, an identity the gateway does not hold).
pub(crate) type TargetResult = Result<Arc<RouteTarget>, String>;

/// An HTTP route of a view: its spec and source address (to reuse it when unchanged) and
/// its target, compiled once (at first use, or when a change brings the route in).
pub(crate) struct CompiledRoute {
    tenant: TenantId,
    id: RouteId,
    /// The snapshot's copy of the route (an HTTP one), shared.
    spec: Arc<RouteSpec>,
    /// The route identities' generation it is compiled under (when it names one).
    generation: u64,
    /// The source address its upstream connections leave from (the route's `egress_bind`,
    /// else the tenant's egress address): part of the reuse key, so a changed tenant
    /// address gets a new target and with it a new connection pool.
    pub(crate) egress: EgressSource,
    target: OnceLock<TargetResult>,
}

// === impl CompiledRoute ===

impl CompiledRoute {
    fn new(
        tenant: &TenantId,
        id: &RouteId,
        spec: &Arc<RouteSpec>,
        generation: u64,
        egress: EgressSource,
    ) -> Self {
        Self {
            tenant: tenant.clone(),
            id: id.clone(),
            spec: spec.clone(),
            generation,
            egress,
            target: OnceLock::new(),
        }
    }

    /// Whether this route, compiled under identities `generation`, can stand for `spec`
    /// leaving from `egress`.
    fn reusable_for(&self, spec: &Arc<RouteSpec>, egress: EgressSource, generation: u64) -> bool {
        let names_identity = match &**spec {
            RouteSpec::Http(http) => http
                .upstream_tls
                .as_ref()
                .is_some_and(|t| t.identity.is_some()),
            _ => false,
        };
        (Arc::ptr_eq(&self.spec, spec) || self.spec == *spec)
            && self.egress == egress
            && (!names_identity || self.generation == generation)
    }

    /// The target, compiled now if it was not yet. Blocking (may read a CA file): call it
    /// on the blocking pool. Callers racing here wait for the one compile.
    pub(crate) fn compile(&self, compiler: &RouteCompiler) -> &TargetResult {
        self.target.get_or_init(|| {
            let RouteSpec::Http(spec) = &*self.spec else {
                return Err(format!("route {} is not an HTTP route", self.id));
            };
            let route = Compile {
                id: self.id.as_str(),
                spec,
                egress: self.egress,
            };
            route.compile(compiler)
        })
    }

    /// The target, if it was compiled already.
    pub(crate) fn compiled_target(&self) -> Option<&TargetResult> {
        self.target.get()
    }
}

/// One HTTP route to compile: its id, spec and effective source address.
struct Compile<'a> {
    id: &'a str,
    spec: &'a HttpRoute,
    egress: EgressSource,
}

impl Compile<'_> {
    /// Compiles the route. A route naming a client identity the listener does not hold
    /// is kept as an error (its requests get a 502 naming the identity): routes change at
    /// run time, so this is logged, not refused at start.
    fn compile(&self, compiler: &RouteCompiler) -> TargetResult {
        let Self { id, spec, egress } = *self;
        let RouteCompiler {
            options,
            listener,
            identities,
            ..
        } = compiler;
        let listener = listener.as_ref();
        let identities = identities.as_deref();
        let mut client_identity = None;
        if let Some(identity) = spec.upstream_tls.as_ref().and_then(|t| t.identity.as_ref()) {
            client_identity = identities.and_then(|i| i.resolver(identity));
            if client_identity.is_none() {
                let held = identities.map_or_else(|| "there are none".to_owned(), |i| i.names());
                let message = format!(
                    "route {id} asks for upstream client identity {identity:?}, which listener \
                     {listener:?} does not hold (its [[listener.gateway.identities]]: {held})"
                );
                error!(listener, route = id, identity = %identity, "HTTP route unusable: {message}");
                return Err(message);
            }
        }
        RouteTarget::from_route_with_source(id, spec, egress.address, options, client_identity)
            .map(Arc::new)
            .map_err(|e| {
                let message = ErrorChain(&e).to_string();
                error!(listener, route = id, error = %message, "HTTP route unusable; its requests get 502");
                message
            })
    }
}
