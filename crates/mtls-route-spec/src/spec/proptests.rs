//! Property tests over whole specs: generated valid specs round-trip through text and JSON,
//! arbitrary JSON never panics, and `conflicts_with` is symmetric.

use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::destination::non_public_range;
use crate::{
    ConnectPattern, EscapedSlashes, HeaderSpec, HostPattern, HostPort, PathPrefix, UpstreamTls,
    UpstreamUrl,
};

fn dns_name() -> impl Strategy<Value = String> {
    "([a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?\\.){0,3}[a-z]([a-z0-9-]{0,4}[a-z0-9])?"
}

fn host_pattern() -> impl Strategy<Value = HostPattern> {
    prop_oneof![
        dns_name(),
        dns_name().prop_map(|n| format!("*.{n}")),
        any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
    ]
    .prop_map(|text| text.parse().unwrap())
}

fn concrete_host() -> impl Strategy<Value = String> {
    prop_oneof![
        dns_name(),
        any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
    ]
}

fn path_prefix() -> impl Strategy<Value = PathPrefix> {
    prop::collection::vec("[a-zA-Z0-9_~.-]{1,6}|%[2-6][0-9a-f]", 0..4)
        .prop_filter_map("dot segments", |segments| {
            format!("/{}", segments.join("/")).parse().ok()
        })
}

fn upstream() -> impl Strategy<Value = UpstreamUrl> {
    (
        prop::bool::ANY,
        concrete_host(),
        prop::option::of(1u16..),
        path_prefix(),
    )
        .prop_map(|(https, host, port, base)| {
            let scheme = if https { "https" } else { "http" };
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let base = if base.is_root() { "" } else { base.as_str() };
            format!("{scheme}://{host}{port}{base}").parse().unwrap()
        })
}

fn dedup<T: Clone + PartialEq>(mut items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut seen = Vec::new();
    items.retain(|item| {
        let k = key(item);
        let fresh = !seen.contains(&k);
        seen.push(k);
        fresh
    });
    items
}

fn egress() -> impl Strategy<Value = Option<IpAddr>> {
    prop::option::of(any::<IpAddr>().prop_filter("bindable", |ip| {
        crate::check::check_egress_bind(Some(*ip)).is_ok()
    }))
}

fn http_route() -> impl Strategy<Value = HttpRoute> {
    (
        host_pattern(),
        path_prefix(),
        prop::collection::vec(upstream(), 1..5),
        prop::option::of((dns_name(), prop::option::of(1u16..))),
        prop::collection::vec(("x-[a-z]{1,6}", "[ -~]{0,12}"), 0..4),
        prop::option::of(1u64..100_000_000_000),
        prop::option::of(any::<u64>()),
        prop::option::of((
            prop::option::of("/[a-z]{1,8}\\.pem"),
            prop::option::of(dns_name()),
            prop::option::of("[a-z0-9._-]{1,12}"),
        )),
        egress(),
    )
        .prop_map(
            |(
                host,
                path_prefix,
                upstreams,
                rewrite,
                headers,
                timeout_ms,
                max_body,
                tls,
                egress_bind,
            )| {
                let upstreams = dedup(upstreams, |u| u.to_string());
                let add_headers = dedup(
                    headers
                        .into_iter()
                        .map(|(n, v)| HeaderSpec::try_new(&n, v.trim()).unwrap())
                        .collect(),
                    |h| h.name().to_owned(),
                );
                let any_https = upstreams.iter().any(UpstreamUrl::is_https);
                // A prefix with an escaped slash is only valid on a route keeping them.
                let escaped_slashes = if ["%2F", "%5C"]
                    .iter()
                    .any(|e| path_prefix.as_str().contains(e))
                {
                    EscapedSlashes::Keep
                } else {
                    EscapedSlashes::Refuse
                };
                HttpRoute {
                    host,
                    path_prefix,
                    upstreams,
                    rewrite_host: rewrite.map(|(h, p)| match p {
                        Some(p) => format!("{h}:{p}"),
                        None => h,
                    }),
                    add_headers,
                    timeout: timeout_ms.map(Duration::from_millis),
                    max_body_bytes: max_body,
                    upstream_tls: tls.filter(|_| any_https).map(|(ca, name, id)| UpstreamTls {
                        ca_file: ca.map(Into::into),
                        server_name: name,
                        identity: id,
                    }),
                    // Both values round-trip; tie it to another field to vary it for free.
                    allow_private: egress_bind.is_some(),
                    egress_bind,
                    escaped_slashes,
                }
            },
        )
}

fn tcp_route() -> impl Strategy<Value = TcpRoute> {
    (
        prop_oneof![dns_name(), dns_name().prop_map(|n| format!("*.{n}"))],
        prop::collection::vec((concrete_host(), 1u16..), 1..5),
        egress(),
    )
        .prop_map(|(sni, upstreams, egress_bind)| TcpRoute {
            sni: sni.parse().unwrap(),
            upstreams: dedup(
                upstreams
                    .into_iter()
                    .map(|(h, p)| format!("{h}:{p}").parse::<HostPort>().unwrap())
                    .collect(),
                |u| u.to_string(),
            ),
            allow_private: egress_bind.is_none(),
            egress_bind,
        })
}

fn connect_pattern() -> impl Strategy<Value = ConnectPattern> {
    (host_pattern(), 1u16.., 1u16..).prop_map(|(host, a, b)| ConnectPattern {
        host,
        ports: crate::PortRange::new(a.min(b), a.max(b)).unwrap(),
    })
}

fn connect_route() -> impl Strategy<Value = ConnectRoute> {
    (
        prop::collection::vec(connect_pattern(), 1..5),
        prop::bool::ANY,
        egress(),
    )
        .prop_map(|(allow, allow_private, egress_bind)| {
            let allow = dedup(allow, |p| p.to_string());
            let needs_private = allow
                .iter()
                .any(|p| p.host.ip().and_then(non_public_range).is_some());
            ConnectRoute {
                allow,
                allow_private: allow_private || needs_private,
                egress_bind,
            }
        })
}

fn route_spec() -> impl Strategy<Value = RouteSpec> {
    prop_oneof![
        http_route().prop_map(RouteSpec::Http),
        tcp_route().prop_map(RouteSpec::Tcp),
        connect_route().prop_map(RouteSpec::Connect),
    ]
}

/// Small pools, so that conflicts actually happen.
fn clashing_spec() -> impl Strategy<Value = RouteSpec> {
    let hosts = prop::sample::select(vec!["a.test", "*.a.test", "b.test"]);
    let paths = prop::sample::select(vec!["/", "/x", "/x/y"]);
    let patterns = prop::collection::vec(
        prop::sample::select(vec![
            "a.test:443",
            "*.a.test:443",
            "a.test:1-1000",
            "b.test:22",
        ]),
        1..3,
    );
    prop_oneof![
        (hosts.clone(), paths).prop_map(|(h, p)| {
            let mut r = HttpRoute::new(h.parse().unwrap(), vec!["http://u.test".parse().unwrap()]);
            r.path_prefix = p.parse().unwrap();
            RouteSpec::Http(r)
        }),
        hosts.prop_map(|h| RouteSpec::Tcp(TcpRoute::new(
            h.parse().unwrap(),
            vec!["u.test:1".parse().unwrap()]
        ))),
        patterns.prop_map(|ps| {
            let allow = dedup(
                ps.iter().map(|p| p.parse().unwrap()).collect(),
                |p: &ConnectPattern| p.to_string(),
            );
            RouteSpec::Connect(ConnectRoute::new(allow))
        }),
    ]
}

proptest! {
    #[test]
    fn generated_specs_are_valid_and_round_trip(spec in route_spec()) {
        prop_assert_eq!(spec.validate(), Ok(()));
        let json = serde_json::to_string(&spec).unwrap();
        let again: RouteSpec = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&again, &spec);
        prop_assert_eq!(serde_json::to_string(&again).unwrap(), json);
        let pretty = serde_json::to_string_pretty(&spec).unwrap();
        prop_assert_eq!(serde_json::from_str::<RouteSpec>(&pretty).unwrap(), spec.clone());
        prop_assert!(spec.conflicts_with(&spec));
        prop_assert!(!spec.summary().is_empty());
    }

    /// The kind anywhere in the object reads as the same spec as the kind first (the one-pass
    /// path), and refusals are the same refusals.
    #[test]
    fn the_kind_may_come_anywhere(spec in route_spec(), at in any::<prop::sample::Index>()) {
        let serde_json::Value::Object(fields) = serde_json::to_value(&spec).unwrap() else {
            panic!("a spec serialises to an object");
        };
        let mut fields: Vec<_> = fields.into_iter().collect();
        let kind = fields.iter().position(|(k, _)| k == "kind").unwrap();
        let kind = fields.remove(kind);
        fields.insert(at.index(fields.len() + 1), kind);
        let json = format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k.as_str())))
                .collect::<Vec<_>>()
                .join(",")
        );
        prop_assert_eq!(serde_json::from_str::<RouteSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn values_round_trip_through_display(
        host in host_pattern(), path in path_prefix(), url in upstream(), pattern in connect_pattern(),
    ) {
        prop_assert_eq!(host.to_string().parse::<HostPattern>().unwrap(), host);
        prop_assert_eq!(path.to_string().parse::<PathPrefix>().unwrap(), path);
        prop_assert_eq!(url.to_string().parse::<UpstreamUrl>().unwrap(), url);
        prop_assert_eq!(pattern.to_string().parse::<ConnectPattern>().unwrap(), pattern);
    }

    #[test]
    fn conflicts_with_is_symmetric(a in clashing_spec(), b in clashing_spec()) {
        prop_assert_eq!(a.conflicts_with(&b), b.conflicts_with(&a));
    }

    #[test]
    fn conflicts_with_is_symmetric_on_generated_specs(a in route_spec(), b in route_spec()) {
        prop_assert_eq!(a.conflicts_with(&b), b.conflicts_with(&a));
    }

    #[test]
    fn arbitrary_json_never_panics(text in any::<String>()) {
        let _ = serde_json::from_str::<RouteSpec>(&text);
        let _ = text.parse::<RouteKind>();
    }

    #[test]
    fn json_with_arbitrary_values_never_panics(
        kind in prop::sample::select(vec!["http", "tcp", "connect"]),
        value in any::<String>(),
        field in prop::sample::select(vec!["host", "sni", "path_prefix", "upstreams", "allow", "timeout", "rewrite_host", "egress_bind"]),
    ) {
        let base = match kind {
            "http" => serde_json::json!({"kind": kind, "host": "a.test", "upstreams": ["http://u.test"]}),
            "tcp" => serde_json::json!({"kind": kind, "sni": "a.test", "upstreams": ["u.test:1"]}),
            _ => serde_json::json!({"kind": kind, "allow": ["a.test:443"]}),
        };
        let mut object = base.as_object().unwrap().clone();
        object.insert(field.to_owned(), serde_json::Value::String(value.clone()));
        let _ = serde_json::from_value::<RouteSpec>(serde_json::Value::Object(object.clone()));
        object.insert(field.to_owned(), serde_json::json!([value]));
        if let Ok(spec) = serde_json::from_value::<RouteSpec>(serde_json::Value::Object(object)) {
            prop_assert_eq!(spec.validate(), Ok(()));
        }
    }
}
