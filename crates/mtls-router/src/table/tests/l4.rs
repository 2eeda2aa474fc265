//! TCP (SNI) and CONNECT lookups.

use super::*;

#[test]
fn tcp_routes_rank_sni_like_hosts() {
    let table = table_a(&[
        ("wild", tcp("*.db.test")),
        ("exact", tcp("pg.db.test")),
        ("http", http("other.db.test", "/")),
    ]);
    let sni = |name: &str| table.match_tcp(&tenant("a"), name).map(|m| *m.key);
    assert_eq!(sni("pg.db.test"), Ok("exact"));
    assert_eq!(sni("PG.db.test."), Ok("exact"));
    assert_eq!(sni("other.db.test"), Ok("wild"));
    assert_eq!(sni("db.test"), Err(NoRoute::NoHostMatch));
    assert_eq!(sni("pg.db.test:5432"), Err(NoRoute::NoHostMatch));
    let m = table.match_tcp(&tenant("a"), "x.db.test").unwrap();
    assert_eq!(m.host, HostSpecificity::Wildcard { labels: 3 });
    assert_eq!(m.route.sni.as_str(), "*.db.test");
}

#[test]
fn connect_allows_matching_patterns_and_reports_allow_private() {
    let mut private = ConnectRoute::new(vec!["db.internal.test:5432".parse().unwrap()]);
    private.allow_private = true;
    private.egress_bind = Some("192.0.2.10".parse().unwrap());
    let table = table_a(&[
        (
            "public",
            connect(&["*.example.test:443", "api.example.test:8000-8100"], false),
        ),
        ("private", private.into()),
        ("ips", connect(&["[2001:db8::1]:22", "192.0.2.1:22"], false)),
    ]);
    let a = tenant("a");
    let m = table.match_connect(&a, "www.example.test", 443).unwrap();
    assert_eq!(
        (*m.key, m.pattern.to_string(), m.allow_private()),
        ("public", "*.example.test:443".into(), false)
    );
    let m = table.match_connect(&a, "API.example.test.", 8050).unwrap();
    assert_eq!(m.pattern.to_string(), "api.example.test:8000-8100");
    let m = table.match_connect(&a, "db.internal.test", 5432).unwrap();
    assert!(m.allow_private());
    assert_eq!(m.egress_bind(), Some("192.0.2.10".parse().unwrap()));
    assert_eq!(
        *table.match_connect(&a, "[2001:db8::1]", 22).unwrap().key,
        "ips"
    );
    assert_eq!(
        *table.match_connect(&a, "2001:db8::1", 22).unwrap().key,
        "ips"
    );
    assert_eq!(
        *table.match_connect(&a, "192.0.2.1", 22).unwrap().key,
        "ips"
    );
    for (host, port) in [
        ("www.example.test", 444),
        ("example.test", 443),
        ("db.internal.test", 5433),
        ("api.example.test", 8101),
        ("192.0.2.2", 22),
        ("", 443),
    ] {
        assert_eq!(
            table.match_connect(&a, host, port).unwrap_err(),
            NoRoute::NotAllowed,
            "{host}:{port}"
        );
    }
}

#[test]
fn connect_most_specific_host_then_narrowest_ports_decides() {
    let table = table_a(&[
        ("wide-wild", connect(&["*.x.test:1-65535"], true)),
        ("narrow-wild", connect(&["*.x.test:443"], false)),
        ("exact", connect(&["db.x.test:5000-6000"], false)),
    ]);
    let key = |host: &str, port| {
        table
            .match_connect(&tenant("a"), host, port)
            .map(|m| *m.key)
    };
    assert_eq!(key("db.x.test", 5432), Ok("exact"));
    assert_eq!(key("db.x.test", 443), Ok("narrow-wild"));
    assert_eq!(key("db.x.test", 22), Ok("wide-wild"));
    assert_eq!(key("www.x.test", 443), Ok("narrow-wild"));
}
