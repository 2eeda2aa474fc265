//! The body of [`RoutePolicy::check`](crate::RoutePolicy::check): each rule of a tenant's
//! route policy against one route spec, the first broken rule reported with the value that
//! broke it.
//!
//! Sync and pure. The rules, in the order they are checked:
//!
//! 1. `max_routes`: the tenant already has as many routes as it may;
//! 2. `max_upstreams_per_route`: the route lists more upstreams (or CONNECT patterns);
//! 3. `allow_private`: the route sets it and the policy does not;
//! 4. `egress_bind`: the route names a source address other than the tenant's own;
//! 5. `upstream_tls.ca_file`: the route names a file on the proxy host (admins only);
//! 6. `allowed_identities`: the route presents a client identity the policy does not list;
//! 7. `allowed_upstream_hosts`: an upstream host (for CONNECT: every host a pattern could
//!    match) outside the allowed patterns;
//! 8. `allowed_upstream_ports`: an upstream port (for CONNECT: a whole port range) outside
//!    the allowed ranges.

use std::net::IpAddr;

use mtls_route_spec::{HostPattern, PortRange, RouteSpec};

use crate::{PolicyViolation, RoutePolicy};

/// Checks `spec` against `policy` for a tenant with `existing_routes` routes and the egress
/// address `tenant_egress`.
pub(crate) fn check(
    policy: &RoutePolicy,
    spec: &RouteSpec,
    existing_routes: usize,
    tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    let max_routes = usize::try_from(policy.max_routes).unwrap_or(usize::MAX);
    if existing_routes >= max_routes {
        return Err(violation(
            "max_routes",
            format!(
                "the tenant has {existing_routes} routes and may have at most {}",
                policy.max_routes
            ),
        ));
    }
    // A route kind this check does not know is refused: a tenant may only add what the
    // admin's policy can bound.
    let Some(bounded) = Bounded::of(spec) else {
        return Err(violation(
            "kind",
            format!("route kind {} is not open to self-service", spec.kind()),
        ));
    };
    let destinations = bounded.list;
    let max_upstreams = usize::try_from(policy.max_upstreams_per_route).unwrap_or(usize::MAX);
    if destinations.len() > max_upstreams {
        return Err(violation(
            "max_upstreams_per_route",
            format!(
                "the route lists {} {} and may list at most {}",
                destinations.len(),
                destinations.noun(),
                policy.max_upstreams_per_route
            ),
        ));
    }
    let (allow_private, egress_bind) = bounded.settings;
    if allow_private && !policy.allow_private {
        return Err(violation(
            "allow_private",
            "the route sets allow_private (non-public destinations), which only an admin \
             may allow for this tenant"
                .to_owned(),
        ));
    }
    if let Some(bind) = egress_bind
        && Some(bind) != tenant_egress
    {
        let own = match tenant_egress {
            Some(own) => format!("the tenant's egress address is {own}"),
            None => "the tenant has no egress address".to_owned(),
        };
        return Err(violation(
            "egress_bind",
            format!(
                "the route asks for source address {bind}; {own}, and only an admin may set another"
            ),
        ));
    }
    if let RouteSpec::Http(route) = spec
        && let Some(tls) = &route.upstream_tls
    {
        if let Some(path) = &tls.ca_file {
            return Err(violation(
                "upstream_tls.ca_file",
                format!(
                    "the route names the file {} on the proxy host, which only an admin may do",
                    path.display()
                ),
            ));
        }
        if let Some(identity) = &tls.identity
            && !policy.allowed_identities.iter().any(|i| i == identity)
        {
            return Err(violation(
                "allowed_identities",
                format!(
                    "client identity {identity:?} is not one the tenant may present (allowed: {})",
                    list_or_none(&policy.allowed_identities)
                ),
            ));
        }
    }
    destinations.check_hosts(&policy.allowed_upstream_hosts)?;
    destinations.check_ports(&policy.allowed_upstream_ports)
}

fn violation(rule: &'static str, message: String) -> PolicyViolation {
    PolicyViolation { rule, message }
}

fn list_or_none<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a route asks for that the policy bounds: its destinations, `allow_private` and
/// `egress_bind`.
struct Bounded<'a> {
    list: Destinations<'a>,
    settings: (bool, Option<IpAddr>),
}

/// The destinations a route names: upstream host and port pairs, or CONNECT patterns.
enum Destinations<'a> {
    /// HTTP and TCP upstreams: `(host, port)`, the port explicit or the scheme's default.
    Upstreams(Vec<(&'a str, u16)>),
    /// CONNECT patterns: a host pattern and a port range each.
    Patterns(Vec<(&'a HostPattern, PortRange)>),
}

impl<'a> Bounded<'a> {
    /// What `spec` asks for; `None` for a route kind this check does not know.
    fn of(spec: &'a RouteSpec) -> Option<Self> {
        Some(match spec {
            RouteSpec::Http(r) => Self {
                list: Destinations::Upstreams(
                    r.upstreams.iter().map(|u| (u.host(), u.port())).collect(),
                ),
                settings: (r.allow_private, r.egress_bind),
            },
            RouteSpec::Tcp(r) => Self {
                list: Destinations::Upstreams(
                    r.upstreams.iter().map(|u| (u.host(), u.port())).collect(),
                ),
                settings: (r.allow_private, r.egress_bind),
            },
            RouteSpec::Connect(r) => Self {
                list: Destinations::Patterns(r.allow.iter().map(|p| (&p.host, p.ports)).collect()),
                settings: (r.allow_private, r.egress_bind),
            },
            _ => return None,
        })
    }
}

impl Destinations<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Upstreams(u) => u.len(),
            Self::Patterns(p) => p.len(),
        }
    }

    fn noun(&self) -> &'static str {
        match self {
            Self::Upstreams(_) => "upstreams",
            Self::Patterns(_) => "CONNECT patterns",
        }
    }

    fn check_hosts(&self, allowed: &[HostPattern]) -> Result<(), PolicyViolation> {
        if allowed.is_empty() {
            return Ok(());
        }
        let refused = match self {
            Self::Upstreams(upstreams) => upstreams
                .iter()
                .find(|(host, _)| !allowed.iter().any(|a| a.matches(host)))
                .map(|(host, _)| format!("upstream host {host}")),
            Self::Patterns(patterns) => patterns
                .iter()
                .find(|(host, _)| !allowed.iter().any(|a| covers(a, host)))
                .map(|(host, _)| format!("CONNECT host pattern {host}")),
        };
        match refused {
            Some(what) => Err(violation(
                "allowed_upstream_hosts",
                format!(
                    "{what} is not within the allowed hosts ({})",
                    list_or_none(allowed)
                ),
            )),
            None => Ok(()),
        }
    }

    fn check_ports(&self, allowed: &[PortRange]) -> Result<(), PolicyViolation> {
        if allowed.is_empty() {
            return Ok(());
        }
        let refused = match self {
            Self::Upstreams(upstreams) => upstreams
                .iter()
                .find(|(_, port)| !allowed.iter().any(|a| a.contains(*port)))
                .map(|(host, port)| format!("upstream {host} port {port}")),
            Self::Patterns(patterns) => patterns
                .iter()
                .find(|(_, ports)| !range_covered(allowed, *ports))
                .map(|(host, ports)| format!("CONNECT pattern {host}:{ports}")),
        };
        match refused {
            Some(what) => Err(violation(
                "allowed_upstream_ports",
                format!(
                    "{what} is not within the allowed ports ({})",
                    list_or_none(allowed)
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Whether every host `pattern` matches is also matched by `allowed`.
///
/// An exact name or IP literal is covered when `allowed` matches it. A wildcard
/// `*.s` (one or more labels, then `s`) is covered only by a wildcard `*.t` with `s == t`
/// or `s` itself matched by `*.t` (so `s` ends in `.t`); an exact `allowed` never covers a
/// wildcard.
pub(crate) fn covers(allowed: &HostPattern, pattern: &HostPattern) -> bool {
    match pattern.wildcard_suffix() {
        None => allowed.matches(pattern.as_str()),
        Some(suffix) => {
            allowed.wildcard_suffix() == Some(suffix)
                || (allowed.is_wildcard() && allowed.matches(suffix))
        }
    }
}

/// Whether every port of `range` lies in the union of `allowed`.
pub(crate) fn range_covered(allowed: &[PortRange], range: PortRange) -> bool {
    let mut sorted: Vec<PortRange> = allowed.to_vec();
    sorted.sort_by_key(|r| r.first);
    // `next` is the first port of `range` not yet known to be covered.
    let mut next = u32::from(range.first);
    for r in sorted {
        if u32::from(r.first) > next {
            break;
        }
        next = next.max(u32::from(r.last) + 1);
        if next > u32::from(range.last) {
            return true;
        }
    }
    next > u32::from(range.last)
}

#[cfg(test)]
mod tests {
    use mtls_route_spec::{ConnectRoute, HttpRoute, TcpRoute, UpstreamTls};
    use proptest::prelude::*;

    use super::*;

    fn http(upstreams: &[&str]) -> HttpRoute {
        HttpRoute::new(
            "a.test".parse().unwrap(),
            upstreams.iter().map(|u| u.parse().unwrap()).collect(),
        )
    }

    fn connect(patterns: &[&str]) -> ConnectRoute {
        ConnectRoute::new(patterns.iter().map(|p| p.parse().unwrap()).collect())
    }

    fn rule(result: Result<(), PolicyViolation>) -> &'static str {
        result.expect_err("a violation").rule
    }

    fn hosts(patterns: &[&str]) -> Vec<HostPattern> {
        patterns.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn ports(ranges: &[&str]) -> Vec<PortRange> {
        ranges.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn the_default_policy_allows_a_public_route_and_refuses_what_only_admins_may_set() {
        let policy = RoutePolicy::default();
        let plain = RouteSpec::from(http(&["https://api.example.com"]));
        check(&policy, &plain, 0, None).unwrap();

        let mut private = http(&["http://10.0.0.5:8080"]);
        private.allow_private = true;
        let err = check(&policy, &private.into(), 0, None).unwrap_err();
        assert_eq!(err.rule, "allow_private");
        assert!(err.to_string().contains("rule allow_private"), "{err}");

        let mut ca = http(&["https://api.example.com"]);
        ca.upstream_tls = Some(UpstreamTls {
            ca_file: Some("/etc/ssl/private-ca.pem".into()),
            ..UpstreamTls::default()
        });
        let err = check(&policy, &ca.into(), 0, None).unwrap_err();
        assert_eq!(err.rule, "upstream_tls.ca_file");
        assert!(err.message.contains("/etc/ssl/private-ca.pem"), "{err}");

        let mut identity = http(&["https://api.example.com"]);
        identity.upstream_tls = Some(UpstreamTls {
            identity: Some("billing".into()),
            ..UpstreamTls::default()
        });
        let spec = RouteSpec::from(identity);
        let err = check(&policy, &spec, 0, None).unwrap_err();
        assert_eq!(err.rule, "allowed_identities");
        assert!(err.message.contains("\"billing\"") && err.message.contains("none"));
        let listed = RoutePolicy {
            allowed_identities: vec!["billing".into()],
            ..RoutePolicy::default()
        };
        check(&listed, &spec, 0, None).unwrap();
    }

    #[test]
    fn admins_may_allow_private_destinations() {
        let policy = RoutePolicy {
            allow_private: true,
            ..RoutePolicy::default()
        };
        let mut tcp = TcpRoute::new(
            "db.a.test".parse().unwrap(),
            vec!["10.0.0.7:5432".parse().unwrap()],
        );
        tcp.allow_private = true;
        check(&policy, &tcp.into(), 0, None).unwrap();
    }

    #[test]
    fn max_routes_and_max_upstreams_count() {
        let policy = RoutePolicy {
            max_routes: 2,
            max_upstreams_per_route: 2,
            ..RoutePolicy::default()
        };
        let two = RouteSpec::from(http(&["https://a.example.com", "https://b.example.com"]));
        check(&policy, &two, 1, None).unwrap();
        let err = check(&policy, &two, 2, None).unwrap_err();
        assert_eq!(err.rule, "max_routes");
        assert_eq!(
            err.message,
            "the tenant has 2 routes and may have at most 2"
        );
        let three = RouteSpec::from(connect(&[
            "a.example.com:443",
            "b.example.com:443",
            "c.example.com:443",
        ]));
        let err = check(&policy, &three, 0, None).unwrap_err();
        assert_eq!(err.rule, "max_upstreams_per_route");
        assert_eq!(
            err.message,
            "the route lists 3 CONNECT patterns and may list at most 2"
        );
        let none = RoutePolicy {
            max_routes: 0,
            ..RoutePolicy::default()
        };
        assert_eq!(rule(check(&none, &two, 0, None)), "max_routes");
    }

    #[test]
    fn egress_bind_must_be_the_tenants_own_address() {
        let policy = RoutePolicy::default();
        let own: IpAddr = "127.0.0.2".parse().unwrap();
        let mut route = http(&["https://api.example.com"]);
        route.egress_bind = Some(own);
        let spec = RouteSpec::from(route.clone());
        check(&policy, &spec, 0, Some(own)).unwrap();
        let err = check(&policy, &spec, 0, None).unwrap_err();
        assert_eq!(err.rule, "egress_bind");
        assert!(err.message.contains("127.0.0.2") && err.message.contains("no egress address"));
        route.egress_bind = Some("127.0.0.3".parse().unwrap());
        let err = check(&policy, &route.into(), 0, Some(own)).unwrap_err();
        assert_eq!(err.rule, "egress_bind");
        assert!(
            err.message.contains("127.0.0.3") && err.message.contains("is 127.0.0.2"),
            "{err}"
        );
    }

    #[test]
    fn upstream_hosts_and_ports_are_bounded() {
        let policy = RoutePolicy {
            allowed_upstream_hosts: hosts(&["*.example.com", "api.other.test"]),
            allowed_upstream_ports: ports(&["443", "8000-8100"]),
            ..RoutePolicy::default()
        };
        for ok in [
            "https://a.example.com",
            "http://x.y.example.com:8080",
            "https://api.other.test",
        ] {
            check(&policy, &http(&[ok]).into(), 0, None).unwrap();
        }
        let err = check(&policy, &http(&["https://example.com"]).into(), 0, None).unwrap_err();
        assert_eq!(err.rule, "allowed_upstream_hosts");
        assert_eq!(
            err.message,
            "upstream host example.com is not within the allowed hosts (*.example.com, api.other.test)"
        );
        let err = check(&policy, &http(&["http://a.example.com"]).into(), 0, None).unwrap_err();
        assert_eq!(err.rule, "allowed_upstream_ports");
        assert_eq!(
            err.message,
            "upstream a.example.com port 80 is not within the allowed ports (443, 8000-8100)"
        );
        let tcp = TcpRoute::new(
            "db.a.test".parse().unwrap(),
            vec!["db.example.com:5432".parse().unwrap()],
        );
        assert_eq!(
            rule(check(&policy, &tcp.into(), 0, None)),
            "allowed_upstream_ports"
        );
    }

    #[test]
    fn connect_patterns_must_fall_wholly_inside_the_allowed_hosts_and_ports() {
        let policy = RoutePolicy {
            allowed_upstream_hosts: hosts(&["*.example.com", "db.other.test"]),
            allowed_upstream_ports: ports(&["443", "8000-8100", "8101-8200"]),
            ..RoutePolicy::default()
        };
        for ok in [
            "*.example.com:443",
            "*.eu.example.com:443",
            "a.example.com:8000-8200",
            "db.other.test:8150",
        ] {
            check(&policy, &connect(&[ok]).into(), 0, None).unwrap();
        }
        for (refused, broken) in [
            ("*.other.test:443", "allowed_upstream_hosts"),
            ("*.com:443", "allowed_upstream_hosts"),
            ("example.com:443", "allowed_upstream_hosts"),
            ("a.example.com:443-444", "allowed_upstream_ports"),
            ("a.example.com:7999-8000", "allowed_upstream_ports"),
            ("a.example.com:8200-8201", "allowed_upstream_ports"),
        ] {
            let result = check(&policy, &connect(&[refused]).into(), 0, None);
            assert_eq!(rule(result), broken, "{refused}");
        }
    }

    #[test]
    fn port_ranges_are_covered_by_their_union() {
        let allowed = ports(&["10-20", "21-30", "40-50"]);
        assert!(range_covered(&allowed, "10-30".parse().unwrap()));
        assert!(range_covered(&allowed, "45".parse().unwrap()));
        assert!(!range_covered(&allowed, "25-40".parse().unwrap()));
        assert!(!range_covered(&allowed, "9-10".parse().unwrap()));
        assert!(range_covered(
            &ports(&["1-65535"]),
            "65535".parse().unwrap()
        ));
    }

    fn label() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "ab", "x1"]).prop_map(str::to_owned)
    }

    /// A DNS pattern of 1..4 labels from a tiny alphabet (so patterns often relate), a
    /// wildcard or not.
    fn pattern() -> impl Strategy<Value = HostPattern> {
        (prop::collection::vec(label(), 1..4), any::<bool>()).prop_map(|(labels, wild)| {
            let name = labels.join(".");
            let text = if wild { format!("*.{name}") } else { name };
            text.parse().unwrap()
        })
    }

    proptest! {
        /// `covers` is sound: any host the pattern matches (the pattern's suffix with one or
        /// two labels in front, for a wildcard) is matched by the allowed pattern.
        #[test]
        fn covered_patterns_only_match_allowed_hosts(
            allowed in pattern(),
            pattern in pattern(),
            front in prop::collection::vec(label(), 1..3),
        ) {
            let host = match pattern.wildcard_suffix() {
                Some(suffix) => format!("{}.{suffix}", front.join(".")),
                None => pattern.as_str().to_owned(),
            };
            prop_assert!(pattern.matches(&host));
            if covers(&allowed, &pattern) {
                prop_assert!(allowed.matches(&host), "{allowed} covers {pattern} but not {host}");
            }
        }

        /// `range_covered` agrees with checking every port.
        #[test]
        fn range_cover_agrees_with_port_by_port(
            allowed in prop::collection::vec((1u16..200, 0u16..30), 0..5),
            first in 1u16..220,
            len in 0u16..40,
        ) {
            let allowed: Vec<PortRange> = allowed
                .into_iter()
                .map(|(first, len)| PortRange::new(first, first + len).unwrap())
                .collect();
            let range = PortRange::new(first, first + len).unwrap();
            let by_port = (range.first..=range.last).all(|p| allowed.iter().any(|a| a.contains(p)));
            prop_assert_eq!(range_covered(&allowed, range), by_port);
        }
    }
}
