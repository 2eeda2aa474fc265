//! The table against a naive reference: for random small route sets over a few tenants and
//! random requests, the winner (or the kind of miss) must be the one found by scanning every
//! route of the tenant and ranking with plain tuples.

use std::cmp::Reverse;

use proptest::prelude::*;

use super::*;
use mtls_route_spec::HostPattern;

const TENANTS: [&str; 3] = ["a", "b", "c"];
const HOST_PATTERNS: [&str; 10] = [
    "x.test",
    "api.x.test",
    "a.b.x.test",
    "y.test",
    "*.x.test",
    "*.b.x.test",
    "*.test",
    "*.y.test",
    "10.0.0.1",
    "[::1]",
];
const PREFIXES: [&str; 6] = ["/", "/api", "/api/v1", "/apix", "/b", "/api/v1/z"];
const CONNECT_PATTERNS: [&str; 8] = [
    "x.test:443",
    "*.x.test:443",
    "*.x.test:1-1000",
    "api.x.test:400-500",
    "10.0.0.1:443",
    "[::1]:443",
    "*.test:443",
    "*.b.x.test:400-8443",
];
const HOSTS: [&str; 14] = [
    "x.test",
    "api.x.test",
    "API.X.test.",
    "a.b.x.test",
    "q.a.b.x.test",
    "y.test",
    "z.y.test",
    "test",
    "other.example",
    "10.0.0.1",
    "[::1]",
    "::1",
    "x..test",
    "",
];
const PATHS: [&str; 10] = [
    "/",
    "",
    "/api",
    "/api/",
    "/apix",
    "/api/v1/z/w",
    "/api?x=1",
    "/b/c",
    "/API",
    "/api//v1",
];
const PORTS: [u16; 5] = [443, 80, 450, 999, 8443];

/// The route key: the owning tenant's index and a small number, so that keys repeat within
/// a tenant (exercising tie-breaks) and a match reveals which tenant owns it.
type Key = (usize, u8);

fn spec() -> impl Strategy<Value = RouteSpec> {
    let host = prop::sample::select(&HOST_PATTERNS[..]);
    let prefix = prop::sample::select(&PREFIXES[..]);
    let sni = prop::sample::select(&HOST_PATTERNS[..8]);
    let allow = prop::sample::subsequence(&CONNECT_PATTERNS[..], 1..=3);
    prop_oneof![
        3 => (host, prefix).prop_map(|(h, p)| {
            let mut route = HttpRoute::new(h.parse().unwrap(), vec!["http://10.9.9.9:80".parse().unwrap()]);
            route.path_prefix = p.parse().unwrap();
            RouteSpec::from(route)
        }),
        1 => sni.prop_map(|s| RouteSpec::from(TcpRoute::new(s.parse().unwrap(), vec!["10.9.9.9:5432".parse().unwrap()]))),
        1 => (allow, any::<bool>()).prop_map(|(allow, private)| {
            let mut route = ConnectRoute::new(allow.iter().map(|p| p.parse().unwrap()).collect());
            route.allow_private = private;
            RouteSpec::from(route)
        }),
    ]
}

fn routes() -> impl Strategy<Value = Vec<(TenantId, Key, RouteSpec)>> {
    prop::collection::vec((0..TENANTS.len(), 0u8..4, spec()), 0..14).prop_map(|routes| {
        routes
            .into_iter()
            .map(|(t, n, spec)| (TENANTS[t].parse().unwrap(), (t, n), spec))
            .collect()
    })
}

fn host_with_port() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&HOSTS[..]),
        prop::option::of(prop::sample::select(&PORTS[..])),
    )
        .prop_map(|(host, port)| match port {
            // A bare IPv6 address cannot carry a port.
            Some(port) if host.matches(':').count() < 2 => format!("{host}:{port}"),
            _ => host.to_owned(),
        })
}

/// The reference host specificity: exact (and IP) patterns above every wildcard, wildcards
/// by label count.
fn host_rank(pattern: &HostPattern) -> usize {
    if pattern.is_wildcard() {
        pattern.label_count()
    } else {
        usize::MAX
    }
}

/// The reference's own `Host` port stripping.
fn reference_strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return &host[..=host.find(']').unwrap()];
    }
    if host.matches(':').count() == 1 {
        host.split(':').next().unwrap()
    } else {
        host
    }
}

fn reference_http(
    routes: &[(TenantId, Key, RouteSpec)],
    tenant: &TenantId,
    host: &str,
    path: &str,
) -> Result<Key, NoRoute> {
    let mine: Vec<_> = routes.iter().filter(|(t, _, _)| t == tenant).collect();
    if mine.is_empty() {
        return Err(NoRoute::UnknownTenant);
    }
    let host = reference_strip_port(host);
    let path = path.split('?').next().unwrap();
    let mut host_seen = false;
    let mut best = None;
    for (i, (_, key, spec)) in mine.iter().enumerate() {
        let RouteSpec::Http(route) = spec else {
            continue;
        };
        if !route.host.matches(host) {
            continue;
        }
        host_seen = true;
        if route.path_prefix.matches(path) {
            let rank = (
                host_rank(&route.host),
                route.path_prefix.segment_count(),
                Reverse(*key),
                Reverse(i),
            );
            if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                best = Some((rank, *key));
            }
        }
    }
    match best {
        Some((_, key)) => Ok(key),
        None if host_seen => Err(NoRoute::NoPathMatch),
        None => Err(NoRoute::NoHostMatch),
    }
}

fn reference_tcp(
    routes: &[(TenantId, Key, RouteSpec)],
    tenant: &TenantId,
    sni: &str,
) -> Result<Key, NoRoute> {
    let mine: Vec<_> = routes.iter().filter(|(t, _, _)| t == tenant).collect();
    if mine.is_empty() {
        return Err(NoRoute::UnknownTenant);
    }
    mine.iter()
        .enumerate()
        .filter_map(|(i, (_, key, spec))| match spec {
            RouteSpec::Tcp(r) if r.sni.matches(sni) => {
                Some(((host_rank(&r.sni), Reverse(*key), Reverse(i)), *key))
            }
            _ => None,
        })
        .max()
        .map(|(_, key)| key)
        .ok_or(NoRoute::NoHostMatch)
}

fn reference_connect(
    routes: &[(TenantId, Key, RouteSpec)],
    tenant: &TenantId,
    host: &str,
    port: u16,
) -> Result<(Key, String), NoRoute> {
    let mine: Vec<_> = routes.iter().filter(|(t, _, _)| t == tenant).collect();
    if mine.is_empty() {
        return Err(NoRoute::UnknownTenant);
    }
    let mut best = None;
    for (i, (_, key, spec)) in mine.iter().enumerate() {
        let RouteSpec::Connect(route) = spec else {
            continue;
        };
        for (j, pattern) in route.allow.iter().enumerate() {
            if pattern.matches(host, port) {
                let width = pattern.ports.last - pattern.ports.first;
                let rank = (
                    host_rank(&pattern.host),
                    Reverse(width),
                    Reverse(*key),
                    Reverse(i),
                    Reverse(j),
                );
                if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                    best = Some((rank, (*key, pattern.to_string())));
                }
            }
        }
    }
    best.map(|(_, found)| found).ok_or(NoRoute::NotAllowed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn http_matches_the_reference(
        routes in routes(),
        tenant in prop::sample::select(&TENANTS[..]),
        host in host_with_port(),
        path in prop::sample::select(&PATHS[..]),
    ) {
        let table = RouteTable::build(routes.clone());
        let tenant: TenantId = tenant.parse().unwrap();
        let got = table.match_http(&tenant, &host, path).map(|m| *m.key);
        prop_assert_eq!(got, reference_http(&routes, &tenant, &host, path));
        // The explanation agrees with the lookup, and its candidates are in rank order.
        let explained = table.explain_http(&tenant, &host, path);
        prop_assert_eq!(explained.outcome.map(|m| *m.key), got);
        prop_assert!(explained.candidates.windows(2).all(|w| w[0].rank > w[1].rank));
    }

    #[test]
    fn tcp_matches_the_reference(
        routes in routes(),
        tenant in prop::sample::select(&TENANTS[..]),
        sni in prop::sample::select(&HOSTS[..]),
    ) {
        let table = RouteTable::build(routes.clone());
        let tenant: TenantId = tenant.parse().unwrap();
        let got = table.match_tcp(&tenant, sni).map(|m| *m.key);
        prop_assert_eq!(got, reference_tcp(&routes, &tenant, sni));
    }

    #[test]
    fn connect_matches_the_reference(
        routes in routes(),
        tenant in prop::sample::select(&TENANTS[..]),
        host in prop::sample::select(&HOSTS[..]),
        port in prop::sample::select(&PORTS[..]),
    ) {
        let table = RouteTable::build(routes.clone());
        let tenant: TenantId = tenant.parse().unwrap();
        let got = table.match_connect(&tenant, host, port).map(|m| (*m.key, m.pattern.to_string()));
        prop_assert_eq!(got, reference_connect(&routes, &tenant, host, port));
    }

    #[test]
    fn a_match_always_belongs_to_the_asking_tenant(
        routes in routes(),
        tenant in 0..TENANTS.len(),
        host in host_with_port(),
        path in prop::sample::select(&PATHS[..]),
        port in prop::sample::select(&PORTS[..]),
    ) {
        let table = RouteTable::build(routes);
        let id: TenantId = TENANTS[tenant].parse().unwrap();
        if let Ok(m) = table.match_http(&id, &host, path) {
            prop_assert_eq!(m.key.0, tenant);
        }
        if let Ok(m) = table.match_tcp(&id, reference_strip_port(&host)) {
            prop_assert_eq!(m.key.0, tenant);
        }
        let bare = reference_strip_port(&host);
        if let Ok(m) = table.match_connect(&id, bare, port) {
            prop_assert_eq!(m.key.0, tenant);
        }
        for c in table.explain_http(&id, &host, path).candidates {
            prop_assert_eq!(c.key.0, tenant);
        }
    }
}

/// One step of a change sequence: a tenant's whole route set replaced (empty: removed).
fn replacements() -> impl Strategy<Value = Vec<(usize, Vec<(u8, RouteSpec)>)>> {
    let routes = prop::collection::vec((0u8..4, spec()), 0..5);
    prop::collection::vec((0..TENANTS.len(), routes), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of tenant replacements applied to a table gives a table that answers
    /// every request exactly like one built from scratch from the routes that result, and
    /// counts the same; the table it was changed from (a clone) still answers as before.
    #[test]
    fn replacing_tenants_equals_building_from_scratch(
        start in routes(),
        steps in replacements(),
        host in host_with_port(),
        path in prop::sample::select(&PATHS[..]),
        sni in prop::sample::select(&HOSTS[..]),
        port in prop::sample::select(&PORTS[..]),
    ) {
        let mut routes = start.clone();
        let mut table = RouteTable::build(start);
        for (t, new) in steps {
            let tenant: TenantId = TENANTS[t].parse().unwrap();
            let before = table.clone();
            let before_http: Vec<_> = TENANTS
                .iter()
                .map(|id| before.match_http(&id.parse().unwrap(), &host, path).map(|m| *m.key))
                .collect();
            routes.retain(|(owner, _, _)| *owner != tenant);
            routes.extend(new.iter().map(|(n, spec)| (tenant.clone(), (t, *n), spec.clone())));
            table.replace_tenant(&tenant, new.into_iter().map(|(n, spec)| ((t, n), spec)));

            let rebuilt = RouteTable::build(routes.clone());
            prop_assert_eq!(table.len(), rebuilt.len());
            prop_assert_eq!(table.tenants(), rebuilt.tenants());
            for id in TENANTS {
                let id: TenantId = id.parse().unwrap();
                prop_assert_eq!(table.has_tenant(&id), rebuilt.has_tenant(&id));
                prop_assert_eq!(
                    table.match_http(&id, &host, path).map(|m| *m.key),
                    rebuilt.match_http(&id, &host, path).map(|m| *m.key)
                );
                prop_assert_eq!(
                    table.match_tcp(&id, sni).map(|m| *m.key),
                    rebuilt.match_tcp(&id, sni).map(|m| *m.key)
                );
                let bare = reference_strip_port(&host);
                prop_assert_eq!(
                    table.match_connect(&id, bare, port).map(|m| (*m.key, m.pattern.to_string())),
                    rebuilt.match_connect(&id, bare, port).map(|m| (*m.key, m.pattern.to_string()))
                );
            }
            let still: Vec<_> = TENANTS
                .iter()
                .map(|id| before.match_http(&id.parse().unwrap(), &host, path).map(|m| *m.key))
                .collect();
            prop_assert_eq!(still, before_http);
        }
    }
}
