//! Unit tests of the route table: HTTP lookups here, the rest in submodules.

use mtls_route_spec::PathPrefix;

use super::*;
use crate::HostSpecificity;

mod explain;
mod l4;

fn tenant(id: &str) -> TenantId {
    id.parse().unwrap()
}

fn http(host: &str, prefix: &str) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().unwrap(),
        vec!["http://10.0.0.5:8080".parse().unwrap()],
    );
    route.path_prefix = prefix.parse().unwrap();
    route.into()
}

fn tcp(sni: &str) -> RouteSpec {
    TcpRoute::new(sni.parse().unwrap(), vec!["10.0.0.7:5432".parse().unwrap()]).into()
}

fn connect(allow: &[&str], allow_private: bool) -> RouteSpec {
    let mut route = ConnectRoute::new(allow.iter().map(|p| p.parse().unwrap()).collect());
    route.allow_private = allow_private;
    route.into()
}

/// A table of tenant `a`'s routes, keyed by name.
fn table_a(routes: &[(&'static str, RouteSpec)]) -> RouteTable<&'static str> {
    RouteTable::build(routes.iter().map(|(k, s)| (tenant("a"), *k, s.clone())))
}

fn http_key(
    table: &RouteTable<&'static str>,
    host: &str,
    path: &str,
) -> Result<&'static str, NoRoute> {
    table.match_http(&tenant("a"), host, path).map(|m| *m.key)
}

#[test]
fn exact_host_beats_wildcards_and_longer_wildcard_beats_shorter() {
    let table = table_a(&[
        ("short", http("*.c.test", "/")),
        ("long", http("*.b.c.test", "/")),
        ("exact", http("a.b.c.test", "/")),
    ]);
    assert_eq!(http_key(&table, "a.b.c.test", "/"), Ok("exact"));
    assert_eq!(http_key(&table, "x.b.c.test", "/"), Ok("long"));
    assert_eq!(http_key(&table, "x.y.b.c.test", "/"), Ok("long"));
    assert_eq!(http_key(&table, "b.c.test", "/"), Ok("short"));
    assert_eq!(http_key(&table, "x.c.test", "/"), Ok("short"));
    // `*` is at least one label: the bare suffix is not claimed.
    assert_eq!(http_key(&table, "c.test", "/"), Err(NoRoute::NoHostMatch));
    let rank = table
        .match_http(&tenant("a"), "x.b.c.test", "/")
        .unwrap()
        .rank;
    assert_eq!(rank.host(), HostSpecificity::Wildcard { labels: 4 });
    assert_eq!(
        HostSpecificity::Exact.cmp(&HostSpecificity::Wildcard { labels: 9 }),
        std::cmp::Ordering::Greater
    );
}

#[test]
fn host_is_case_insensitive_and_ignores_trailing_dot_and_port() {
    let table = table_a(&[
        ("api", http("api.acme.test", "/")),
        ("wild", http("*.acme.test", "/")),
        ("v4", http("10.0.0.9", "/")),
        ("v6", http("[2001:db8::1]", "/")),
    ]);
    for host in [
        "api.acme.test",
        "API.Acme.TEST",
        "api.acme.test.",
        "api.acme.test:8443",
        "Api.acme.test.:443",
    ] {
        assert_eq!(http_key(&table, host, "/"), Ok("api"), "{host}");
    }
    assert_eq!(http_key(&table, "WWW.ACME.TEST:80", "/"), Ok("wild"));
    assert_eq!(http_key(&table, "10.0.0.9:8080", "/"), Ok("v4"));
    assert_eq!(http_key(&table, "[2001:db8::1]:8443", "/"), Ok("v6"));
    assert_eq!(http_key(&table, "[2001:DB8:0::1]", "/"), Ok("v6"));
    assert_eq!(http_key(&table, "2001:db8::1", "/"), Ok("v6"));
}

#[test]
fn malformed_or_oversized_hosts_match_nothing() {
    let table = table_a(&[("wild", http("*.acme.test", "/"))]);
    let long = format!("{}.acme.test", "a".repeat(250));
    for host in [
        "",
        ".",
        "x..acme.test",
        "x.acme.test:http",
        "[::1]x",
        "[::1",
        &long,
    ] {
        assert_eq!(
            http_key(&table, host, "/"),
            Err(NoRoute::NoHostMatch),
            "{host:?}"
        );
    }
}

#[test]
fn path_prefix_matches_on_segment_boundaries_and_longest_wins() {
    let table = table_a(&[
        ("root", http("api.test", "/")),
        ("api", http("api.test", "/api")),
        ("v1", http("api.test", "/api/v1")),
    ]);
    let cases = [
        ("/api", "api"),
        ("/api/", "api"),
        ("/api/x", "api"),
        ("/apix", "root"),
        ("/api/v1", "v1"),
        ("/api/v1/items/7", "v1"),
        ("/api/v10", "api"),
        ("/api//v1", "api"),
        ("/api?x=1", "api"),
        ("/api/v1?next=/z", "v1"),
        ("/Api", "root"),
        ("", "root"),
        ("*", "root"),
    ];
    for (path, want) in cases {
        assert_eq!(http_key(&table, "api.test", path), Ok(want), "{path}");
    }
    let rank = table
        .match_http(&tenant("a"), "api.test", "/api/v1/x")
        .unwrap()
        .rank;
    assert_eq!(rank.prefix_segments(), 2);
}

#[test]
fn deep_paths_only_probe_up_to_the_longest_prefix() {
    let deep = format!("/a{}", "/s".repeat(500));
    let table = table_a(&[
        ("a", http("api.test", "/a")),
        ("ab", http("api.test", "/a/b/c")),
    ]);
    assert_eq!(http_key(&table, "api.test", &deep), Ok("a"));
    assert_eq!(http_key(&table, "api.test", "/a/b/c/d/e/f/g"), Ok("ab"));
    assert_eq!(
        http_key(&table, "api.test", "/b"),
        Err(NoRoute::NoPathMatch)
    );
}

#[test]
fn less_specific_host_answers_when_the_more_specific_has_no_matching_prefix() {
    let table = table_a(&[
        ("exact-v1", http("api.test", "/v1")),
        ("wild-root", http("*.test", "/")),
    ]);
    assert_eq!(http_key(&table, "api.test", "/v1/x"), Ok("exact-v1"));
    assert_eq!(http_key(&table, "api.test", "/other"), Ok("wild-root"));
    let table = table_a(&[
        ("exact-v1", http("api.test", "/v1")),
        ("tcp", tcp("other.test")),
    ]);
    assert_eq!(
        http_key(&table, "api.test", "/v2"),
        Err(NoRoute::NoPathMatch)
    );
    assert_eq!(
        http_key(&table, "other.test", "/"),
        Err(NoRoute::NoHostMatch)
    );
}

#[test]
fn tenants_never_see_each_others_routes() {
    let table = RouteTable::build([
        (tenant("a"), 1, http("a.test", "/")),
        (tenant("b"), 2, http("b.test", "/")),
        (tenant("b"), 3, tcp("db.b.test")),
        (tenant("b"), 4, connect(&["*.b.test:443"], false)),
    ]);
    assert_eq!(table.tenants(), 2);
    assert_eq!(table.len(), 4);
    let (a, b, c) = (tenant("a"), tenant("b"), tenant("c"));
    assert_eq!(table.match_http(&a, "a.test", "/").map(|m| *m.key), Ok(1));
    assert_eq!(table.match_http(&b, "b.test", "/").map(|m| *m.key), Ok(2));
    assert_eq!(
        table.match_http(&a, "b.test", "/").unwrap_err(),
        NoRoute::NoHostMatch
    );
    assert_eq!(
        table.match_tcp(&a, "db.b.test").unwrap_err(),
        NoRoute::NoHostMatch
    );
    assert_eq!(
        table.match_connect(&a, "x.b.test", 443).unwrap_err(),
        NoRoute::NotAllowed
    );
    assert_eq!(
        table.match_http(&c, "a.test", "/").unwrap_err(),
        NoRoute::UnknownTenant
    );
    assert_eq!(
        table.match_tcp(&c, "db.b.test").unwrap_err(),
        NoRoute::UnknownTenant
    );
    assert_eq!(
        table.match_connect(&c, "x.b.test", 443).unwrap_err(),
        NoRoute::UnknownTenant
    );
    assert!(table.has_tenant(&b) && !table.has_tenant(&c));
}

#[test]
fn duplicates_resolve_by_key_then_input_order_whatever_the_input_order() {
    let to = |port: u16| {
        let mut route = HttpRoute::new(
            "api.test".parse().unwrap(),
            vec![format!("http://10.0.0.5:{port}").parse().unwrap()],
        );
        route.path_prefix = PathPrefix::root();
        RouteSpec::from(route)
    };
    let routes = vec![
        (tenant("a"), 2, to(2)),
        (tenant("a"), 1, to(10)),
        (tenant("a"), 1, to(11)),
        (tenant("a"), 3, to(3)),
    ];
    for rotation in 0..routes.len() {
        let mut input = routes.clone();
        input.rotate_left(rotation);
        let table = RouteTable::build(input.clone());
        let winner = table.match_http(&tenant("a"), "api.test", "/").unwrap();
        // The lowest key wins; between the two routes keyed 1, the earlier in the input.
        let first_key1 = input.iter().find(|(_, k, _)| *k == 1).unwrap();
        assert_eq!(*winner.key, 1);
        assert_eq!(
            RouteSpec::from(winner.route.clone()),
            first_key1.2,
            "rotation {rotation}"
        );
        let explained = table.explain_http(&tenant("a"), "api.test", "/");
        let keys: Vec<_> = explained.candidates.iter().map(|c| *c.key).collect();
        assert_eq!(keys, [1, 1, 2, 3]);
        assert_eq!(explained.outcome, Ok(winner));
    }
    let table = RouteTable::build([
        (tenant("a"), 5, tcp("db.test")),
        (tenant("a"), 3, tcp("db.test")),
    ]);
    assert_eq!(
        table.match_tcp(&tenant("a"), "db.test").map(|m| *m.key),
        Ok(3)
    );
}

#[test]
fn empty_table_knows_no_tenant() {
    let table = RouteTable::<u32>::default();
    assert!(table.is_empty());
    assert_eq!((table.len(), table.tenants()), (0, 0));
    assert_eq!(
        table.match_http(&tenant("a"), "x.test", "/").unwrap_err(),
        NoRoute::UnknownTenant
    );
    let built = RouteTable::<u32>::build(Vec::<(TenantId, u32, RouteSpec)>::new());
    assert!(built.is_empty());
}
