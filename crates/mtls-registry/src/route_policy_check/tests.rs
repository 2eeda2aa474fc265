use std::net::IpAddr;

use mtls_route_spec::{HostPattern, PortRange, RouteSpec};
use proptest::prelude::*;

use super::{host_allowed, pattern_allowed, range_allowed};
use crate::RoutePolicy;

fn spec(json: &str) -> RouteSpec {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test spec {json}: {e}"))
}

fn hosts(list: &[&str]) -> Vec<HostPattern> {
    list.iter().map(|h| h.parse().unwrap()).collect()
}

fn ports(list: &[&str]) -> Vec<PortRange> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn rule_of(policy: &RoutePolicy, spec: &RouteSpec, existing: usize) -> Option<&'static str> {
    policy.check(spec, existing, None).err().map(|v| v.rule)
}

const HTTP: &str =
    r#"{"kind":"http","host":"api.acme.test","upstreams":["https://api.example.com"]}"#;
const TCP: &str = r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["db.example.com:5432"]}"#;
const CONNECT: &str = r#"{"kind":"connect","allow":["*.example.com:443"]}"#;

#[test]
fn the_default_policy_accepts_plain_public_routes_of_every_kind() {
    let policy = RoutePolicy::default();
    for json in [HTTP, TCP, CONNECT] {
        assert_eq!(policy.check(&spec(json), 0, None), Ok(()), "{json}");
    }
}

#[test]
fn max_routes_refuses_the_route_past_the_limit_only() {
    let policy = RoutePolicy {
        max_routes: 3,
        ..RoutePolicy::default()
    };
    assert_eq!(rule_of(&policy, &spec(TCP), 2), None);
    let err = policy.check(&spec(TCP), 3, None).unwrap_err();
    assert_eq!(err.rule, "max_routes");
    assert!(
        err.message.contains("already has 3") && err.message.contains("at most 3"),
        "{err}"
    );
    let zero = RoutePolicy {
        max_routes: 0,
        ..RoutePolicy::default()
    };
    assert_eq!(rule_of(&zero, &spec(TCP), 0), Some("max_routes"));
}

#[test]
fn max_upstreams_counts_upstreams_and_connect_patterns() {
    let policy = RoutePolicy {
        max_upstreams_per_route: 2,
        ..RoutePolicy::default()
    };
    let two = spec(
        r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["a.example.com:1","b.example.com:1"]}"#,
    );
    assert_eq!(rule_of(&policy, &two, 0), None);
    let three_http = spec(
        r#"{"kind":"http","host":"api.acme.test","upstreams":["https://a.example.com","https://b.example.com","https://c.example.com"]}"#,
    );
    let err = policy.check(&three_http, 0, None).unwrap_err();
    assert_eq!(err.rule, "max_upstreams_per_route");
    assert!(
        err.message.contains("3 upstream") && err.message.contains("at most 2"),
        "{err}"
    );
    let three_connect = spec(
        r#"{"kind":"connect","allow":["a.example.com:443","b.example.com:443","c.example.com:443"]}"#,
    );
    assert_eq!(
        rule_of(&policy, &three_connect, 0),
        Some("max_upstreams_per_route")
    );
}

#[test]
fn allowed_hosts_apply_to_http_tcp_and_connect_hosts() {
    let policy = RoutePolicy {
        allowed_upstream_hosts: hosts(&["*.example.com", "db.other.test", "203.0.113.7"]),
        ..RoutePolicy::default()
    };
    assert_eq!(rule_of(&policy, &spec(HTTP), 0), None);
    assert_eq!(rule_of(&policy, &spec(TCP), 0), None);
    assert_eq!(rule_of(&policy, &spec(CONNECT), 0), None);
    let ip = spec(r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["203.0.113.7:5432"]}"#);
    assert_eq!(rule_of(&policy, &ip, 0), None);

    let outside = spec(
        r#"{"kind":"http","host":"api.acme.test","upstreams":["https://api.example.com","https://evil.test"]}"#,
    );
    let err = policy.check(&outside, 0, None).unwrap_err();
    assert_eq!(err.rule, "allowed_upstream_hosts");
    assert!(err.message.contains("evil.test"), "{err}");
    assert!(err.message.contains("*.example.com"), "{err}");
    // The bare suffix is not under its wildcard.
    let bare = spec(r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["example.com:443"]}"#);
    assert_eq!(rule_of(&policy, &bare, 0), Some("allowed_upstream_hosts"));
    let other_ip = spec(r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["203.0.113.8:5432"]}"#);
    assert_eq!(
        rule_of(&policy, &other_ip, 0),
        Some("allowed_upstream_hosts")
    );
}

#[test]
fn a_connect_wildcard_must_lie_inside_an_allowed_wildcard() {
    let policy = RoutePolicy {
        allowed_upstream_hosts: hosts(&["*.example.com", "api.other.test"]),
        ..RoutePolicy::default()
    };
    let narrower = spec(r#"{"kind":"connect","allow":["*.eu.example.com:443"]}"#);
    assert_eq!(rule_of(&policy, &narrower, 0), None);
    for wider in [
        r#"{"kind":"connect","allow":["*.com:443"]}"#,
        r#"{"kind":"connect","allow":["*.other.test:443"]}"#,
        r#"{"kind":"connect","allow":["*.ample.com:443"]}"#,
    ] {
        let err = policy.check(&spec(wider), 0, None).unwrap_err();
        assert_eq!(err.rule, "allowed_upstream_hosts", "{wider}");
        assert!(err.message.contains("CONNECT destination *."), "{err}");
    }
    let exact = spec(r#"{"kind":"connect","allow":["api.other.test:443"]}"#);
    assert_eq!(rule_of(&policy, &exact, 0), None);
}

#[test]
fn ip_literals_compare_as_addresses_and_never_match_dns_wildcards() {
    let allowed = hosts(&["[2001:db8::1]", "*.example.com"]);
    let ip: IpAddr = "2001:db8:0:0::1".parse().unwrap();
    assert!(host_allowed(&allowed, "2001:db8::1", Some(ip)));
    let v4: IpAddr = "10.0.0.1".parse().unwrap();
    assert!(!host_allowed(&allowed, "10.0.0.1", Some(v4)));
    // Through the check: an upstream written in another form of the same address.
    let policy = RoutePolicy {
        allowed_upstream_hosts: allowed,
        ..RoutePolicy::default()
    };
    let route = spec(
        r#"{"kind":"http","host":"api.acme.test","upstreams":["https://[2001:db8:0::1]:8443"]}"#,
    );
    assert_eq!(policy.check(&route, 0, None), Ok(()));
}

#[test]
fn allowed_ports_apply_to_upstream_ports_and_whole_connect_ranges() {
    let policy = RoutePolicy {
        allowed_upstream_ports: ports(&["443", "8000-8100"]),
        ..RoutePolicy::default()
    };
    // https without a port is 443.
    assert_eq!(rule_of(&policy, &spec(HTTP), 0), None);
    let plain_http =
        spec(r#"{"kind":"http","host":"api.acme.test","upstreams":["http://api.example.com"]}"#);
    let err = policy.check(&plain_http, 0, None).unwrap_err();
    assert_eq!(err.rule, "allowed_upstream_ports");
    assert!(
        err.message.contains("port 80") && err.message.contains("8000-8100"),
        "{err}"
    );
    let inside = spec(r#"{"kind":"connect","allow":["*.example.com:8010-8020"]}"#);
    assert_eq!(rule_of(&policy, &inside, 0), None);
    // 443..=8000 touches both allowed ranges but lies inside neither.
    let spanning = spec(r#"{"kind":"connect","allow":["*.example.com:443-8000"]}"#);
    let err = policy.check(&spanning, 0, None).unwrap_err();
    assert_eq!(err.rule, "allowed_upstream_ports");
    assert!(err.message.contains("443-8000"), "{err}");
    assert_eq!(
        rule_of(&policy, &spec(TCP), 0),
        Some("allowed_upstream_ports")
    );
}

#[test]
fn allow_private_needs_the_policy_to_allow_it() {
    let private = spec(
        r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["10.0.0.7:5432"],"allow_private":true}"#,
    );
    let err = RoutePolicy::default().check(&private, 0, None).unwrap_err();
    assert_eq!(err.rule, "allow_private");
    let open = RoutePolicy {
        allow_private: true,
        ..RoutePolicy::default()
    };
    assert_eq!(open.check(&private, 0, None), Ok(()));
}

#[test]
fn identities_must_be_listed_and_ca_files_are_always_refused() {
    let with_identity = spec(
        r#"{"kind":"http","host":"api.acme.test","upstreams":["https://api.example.com"],"upstream_tls":{"identity":"billing"}}"#,
    );
    let err = RoutePolicy::default()
        .check(&with_identity, 0, None)
        .unwrap_err();
    assert_eq!(err.rule, "allowed_identities");
    assert!(
        err.message.contains("\"billing\"") && err.message.contains("none"),
        "{err}"
    );
    let listed = RoutePolicy {
        allowed_identities: vec!["billing".into()],
        ..RoutePolicy::default()
    };
    assert_eq!(listed.check(&with_identity, 0, None), Ok(()));
    let other = RoutePolicy {
        allowed_identities: vec!["reports".into()],
        ..RoutePolicy::default()
    };
    let err = other.check(&with_identity, 0, None).unwrap_err();
    assert!(err.message.contains("allowed: reports"), "{err}");

    let ca_file = spec(
        r#"{"kind":"http","host":"api.acme.test","upstreams":["https://api.example.com"],"upstream_tls":{"ca_file":"/etc/ssl/private-ca.pem"}}"#,
    );
    let open = RoutePolicy {
        allow_private: true,
        allowed_identities: vec!["billing".into()],
        ..RoutePolicy::default()
    };
    let err = open.check(&ca_file, 0, None).unwrap_err();
    assert_eq!(err.rule, "upstream_tls.ca_file");
    assert!(err.message.contains("/etc/ssl/private-ca.pem"), "{err}");
}

#[test]
fn egress_bind_is_refused_unless_it_is_the_tenants_own_address() {
    let own: IpAddr = "192.0.2.10".parse().unwrap();
    for json in [
        r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["db.example.com:5432"],"egress_bind":"192.0.2.10"}"#,
        r#"{"kind":"http","host":"api.acme.test","upstreams":["https://api.example.com"],"egress_bind":"192.0.2.10"}"#,
        r#"{"kind":"connect","allow":["*.example.com:443"],"egress_bind":"192.0.2.10"}"#,
    ] {
        let route = spec(json);
        let policy = RoutePolicy::default();
        assert_eq!(policy.check(&route, 0, Some(own)), Ok(()), "{json}");
        let err = policy.check(&route, 0, None).unwrap_err();
        assert_eq!(err.rule, "egress_bind", "{json}");
        assert!(err.message.contains("no egress address"), "{err}");
        let err = policy
            .check(&route, 0, Some("192.0.2.11".parse().unwrap()))
            .unwrap_err();
        assert!(
            err.message.contains("192.0.2.10") && err.message.contains("192.0.2.11"),
            "{err}"
        );
    }
}

// === property tests ===

const LABELS: &[&str] = &["a", "b", "c", "ab"];

fn name() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(LABELS), 1..=4)
}

/// A pattern over the same labels: exact or `*.`-wildcard.
fn pattern() -> impl Strategy<Value = (bool, Vec<&'static str>)> {
    (any::<bool>(), name())
}

fn pattern_text((wildcard, labels): &(bool, Vec<&'static str>)) -> String {
    let name = labels.join(".");
    if *wildcard { format!("*.{name}") } else { name }
}

/// The reference rule, on labels: an exact pattern claims exactly its name; `*.s` claims
/// every name of more labels whose last labels are `s`.
fn reference_claims((wildcard, labels): &(bool, Vec<&'static str>), host: &[&str]) -> bool {
    if *wildcard {
        host.len() > labels.len() && host.ends_with(labels)
    } else {
        host == labels.as_slice()
    }
}

proptest! {
    #[test]
    fn a_host_is_allowed_iff_some_allowed_pattern_claims_it(
        allowed in prop::collection::vec(pattern(), 0..5),
        host in name(),
    ) {
        let patterns: Vec<HostPattern> =
            allowed.iter().map(|p| pattern_text(p).parse().unwrap()).collect();
        let expected = allowed.iter().any(|p| reference_claims(p, &host));
        prop_assert_eq!(host_allowed(&patterns, &host.join("."), None), expected);
        // And through the whole check, as a TCP upstream, with an empty list meaning "any".
        let policy = RoutePolicy { allowed_upstream_hosts: patterns, ..RoutePolicy::default() };
        let route = spec(&format!(
            r#"{{"kind":"tcp","sni":"db.acme.test","upstreams":["{}:443"]}}"#,
            host.join(".")
        ));
        let accepted = policy.check(&route, 0, None).is_ok();
        prop_assert_eq!(accepted, allowed.is_empty() || expected);
    }

    #[test]
    fn a_connect_wildcard_is_allowed_iff_every_host_it_claims_is(
        allowed in prop::collection::vec(pattern(), 0..5),
        suffix in name(),
        extra in name(),
    ) {
        let patterns: Vec<HostPattern> =
            allowed.iter().map(|p| pattern_text(p).parse().unwrap()).collect();
        let wildcard: HostPattern = format!("*.{}", suffix.join(".")).parse().unwrap();
        let accepted = pattern_allowed(&patterns, &wildcard);
        // Reference: some allowed wildcard's labels are a suffix of ours.
        let expected = allowed
            .iter()
            .any(|(w, l)| *w && suffix.len() >= l.len() && suffix.ends_with(l));
        prop_assert_eq!(accepted, expected);
        // Soundness: when accepted, a host the wildcard claims is allowed as a plain host.
        if accepted {
            let host: Vec<&str> = extra.iter().chain(suffix.iter()).copied().collect();
            prop_assert!(host_allowed(&patterns, &host.join("."), None));
        }
    }

    #[test]
    fn a_port_is_allowed_iff_some_allowed_range_contains_it(
        ranges in prop::collection::vec((1u16..=200, 0u16..=50), 0..5),
        port in 1u16..=260,
    ) {
        let allowed: Vec<PortRange> = ranges
            .iter()
            .map(|&(first, len)| PortRange::new(first, first.saturating_add(len)).unwrap())
            .collect();
        let expected = ranges
            .iter()
            .any(|&(first, len)| first <= port && port <= first.saturating_add(len));
        let policy = RoutePolicy { allowed_upstream_ports: allowed, ..RoutePolicy::default() };
        let route = spec(&format!(
            r#"{{"kind":"tcp","sni":"db.acme.test","upstreams":["db.example.com:{port}"]}}"#
        ));
        prop_assert_eq!(
            policy.check(&route, 0, None).is_ok(),
            ranges.is_empty() || expected
        );
    }

    #[test]
    fn a_connect_range_is_allowed_iff_one_allowed_range_holds_all_of_it(
        ranges in prop::collection::vec((1u16..=200, 0u16..=50), 1..5),
        first in 1u16..=220,
        len in 0u16..=30,
    ) {
        let allowed: Vec<PortRange> = ranges
            .iter()
            .map(|&(f, l)| PortRange::new(f, f + l).unwrap())
            .collect();
        let range = PortRange::new(first, first + len).unwrap();
        let accepted = range_allowed(&allowed, range);
        // Reference: some allowed range contains every port of ours.
        let expected = allowed
            .iter()
            .any(|r| (range.first..=range.last).all(|p| r.contains(p)));
        prop_assert_eq!(accepted, expected);
    }
}
