use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::{ConnectPattern, PortRange, Reason, UpstreamTls};

fn http(host: &str, path: &str, upstreams: &[&str]) -> HttpRoute {
    let mut route = HttpRoute::new(
        host.parse().unwrap(),
        upstreams.iter().map(|u| u.parse().unwrap()).collect(),
    );
    route.path_prefix = path.parse().unwrap();
    route
}

fn tcp(sni: &str, upstreams: &[&str]) -> TcpRoute {
    TcpRoute::new(
        sni.parse().unwrap(),
        upstreams.iter().map(|u| u.parse().unwrap()).collect(),
    )
}

fn connect(allow: &[&str]) -> ConnectRoute {
    ConnectRoute::new(allow.iter().map(|p| p.parse().unwrap()).collect())
}

fn invalid(spec: impl Into<RouteSpec>) -> RouteSpecError {
    let spec = spec.into();
    let err = spec.validate().unwrap_err();
    // Deserialisation refuses exactly what validate() refuses, saying where (serde_json
    // appends the position: the spec is read in one pass).
    let json = serde_json::to_string(&spec).unwrap();
    let de = serde_json::from_str::<RouteSpec>(&json).unwrap_err();
    let message = de.to_string();
    let at = format!(" at line {} column {}", de.line(), de.column());
    assert_eq!(message.strip_suffix(&at), Some(&*err.to_string()), "{json}");
    err
}

#[test]
fn route_kind_text() {
    for kind in [RouteKind::Http, RouteKind::Tcp, RouteKind::Connect] {
        assert_eq!(kind.to_string().parse::<RouteKind>().unwrap(), kind);
    }
    assert_eq!(
        "HTTP".parse::<RouteKind>().unwrap_err(),
        RouteSpecError::UnknownKind {
            value: "HTTP".into()
        }
    );
    assert_eq!(
        RouteSpec::from(connect(&["a.test:1"])).kind(),
        RouteKind::Connect
    );
    assert_eq!(
        RouteSpec::from(tcp("a.test", &["b:1"])).kind(),
        RouteKind::Tcp
    );
}

#[test]
fn http_upstream_count_and_duplicates() {
    let err = invalid(http("a.test", "/", &[]));
    assert!(
        matches!(
            err,
            RouteSpecError::Count {
                field: "upstreams",
                count: 0,
                min: 1,
                max: 32
            }
        ),
        "{err}"
    );
    let many: Vec<String> = (1..=33).map(|i| format!("http://10.0.0.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let err = invalid(http("a.test", "/", &many));
    assert!(
        matches!(err, RouteSpecError::Count { count: 33, .. }),
        "{err}"
    );
    assert!(http("a.test", "/", &many[..32]).validate().is_ok());
    let err = invalid(http("a.test", "/", &["http://b.test:80", "http://B.test"]));
    assert_eq!(
        err,
        RouteSpecError::Duplicate {
            field: "upstreams",
            value: "http://b.test".into()
        }
    );
}

#[test]
fn http_header_count_and_duplicates() {
    let mut route = http("a.test", "/", &["http://b.test"]);
    route.add_headers = (0..33)
        .map(|i| format!("x-h{i}: v").parse().unwrap())
        .collect();
    let err = invalid(route.clone());
    assert!(
        matches!(
            err,
            RouteSpecError::Count {
                field: "add_headers",
                count: 33,
                ..
            }
        ),
        "{err}"
    );
    route.add_headers = vec!["x-a: 1".parse().unwrap(), "X-A: 2".parse().unwrap()];
    assert_eq!(
        invalid(route),
        RouteSpecError::Duplicate {
            field: "add_headers",
            value: "x-a".into()
        }
    );
}

#[test]
fn http_rewrite_host_timeout_and_egress() {
    let mut route = http("a.test", "/", &["http://b.test"]);
    route.rewrite_host = Some("b.test:8080".into());
    assert!(route.validate().is_ok());
    route.rewrite_host = Some("b.test:0".into());
    assert_eq!(
        invalid(route.clone()),
        RouteSpecError::RewriteHost {
            value: "b.test:0".into(),
            reason: Reason::PortZero
        }
    );
    route.rewrite_host = None;
    route.timeout = Some(Duration::ZERO);
    assert_eq!(invalid(route.clone()), RouteSpecError::ZeroTimeout);
    route.timeout = None;
    for (addr, what) in [
        (IpAddr::V4(Ipv4Addr::UNSPECIFIED), "unspecified"),
        (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)), "multicast"),
        (IpAddr::V4(Ipv4Addr::BROADCAST), "broadcast"),
    ] {
        route.egress_bind = Some(addr);
        let err = invalid(route.clone());
        assert!(
            matches!(err, RouteSpecError::EgressBind { addr: a, .. } if a == addr),
            "{err}"
        );
        assert!(err.to_string().contains(what), "{err}");
    }
    route.egress_bind = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
    assert!(route.validate().is_ok());
}

#[test]
fn upstream_tls_rules() {
    let mut route = http("a.test", "/", &["http://b.test"]);
    route.upstream_tls = Some(UpstreamTls::default());
    assert_eq!(
        invalid(route.clone()),
        RouteSpecError::UpstreamTlsWithoutHttps
    );
    route.upstreams.push("https://c.test".parse().unwrap());
    assert!(route.validate().is_ok());
    let tls = |ca: Option<&str>, name: Option<&str>, id: Option<&str>| UpstreamTls {
        ca_file: ca.map(PathBuf::from),
        server_name: name.map(str::to_owned),
        identity: id.map(str::to_owned),
    };
    route.upstream_tls = Some(tls(
        Some("/etc/mtls/upstream-ca.pem"),
        Some("c.internal"),
        Some("acme-prod"),
    ));
    assert!(route.validate().is_ok());
    route.upstream_tls = Some(tls(Some("ca.pem"), None, None));
    let err = invalid(route.clone());
    assert!(
        matches!(&err, RouteSpecError::CaFile { path, .. } if path == &PathBuf::from("ca.pem")),
        "{err}"
    );
    assert!(err.to_string().contains("absolute"), "{err}");
    route.upstream_tls = Some(tls(Some(""), None, None));
    assert!(matches!(
        invalid(route.clone()),
        RouteSpecError::CaFile {
            reason: "must not be empty",
            ..
        }
    ));
    route.upstream_tls = Some(tls(None, Some("c.internal:443"), None));
    assert_eq!(
        invalid(route.clone()),
        RouteSpecError::ServerName {
            value: "c.internal:443".into(),
            reason: Reason::UnexpectedPort
        }
    );
    route.upstream_tls = Some(tls(None, Some("*.internal"), None));
    assert_eq!(
        invalid(route.clone()).reason(),
        Some(Reason::WildcardNotAllowed)
    );
    route.upstream_tls = Some(tls(None, None, Some("acme/prod")));
    assert_eq!(
        invalid(route.clone()),
        RouteSpecError::IdentityName {
            value: "acme/prod".into(),
            reason: Reason::BadChar { found: '/' }
        }
    );
    route.upstream_tls = Some(tls(None, None, Some("")));
    assert_eq!(invalid(route).reason(), Some(Reason::Empty));
}

#[test]
fn tcp_rules() {
    assert!(tcp("*.db.test", &["10.0.0.7:5432"]).validate().is_ok());
    assert_eq!(
        invalid(tcp("10.0.0.1", &["10.0.0.7:5432"])),
        RouteSpecError::SniIpLiteral {
            value: "10.0.0.1".into()
        }
    );
    assert!(matches!(
        invalid(tcp("a.test", &[])),
        RouteSpecError::Count {
            field: "upstreams",
            ..
        }
    ));
    assert_eq!(
        invalid(tcp("a.test", &["b.test:1", "B.test:01"])),
        RouteSpecError::Duplicate {
            field: "upstreams",
            value: "b.test:1".into()
        }
    );
    let mut route = tcp("a.test", &["b.test:1"]);
    route.egress_bind = Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert!(matches!(invalid(route), RouteSpecError::EgressBind { .. }));
}

#[test]
fn connect_rules() {
    assert!(
        connect(&["db.example.com:5432", "*.example.com:443"])
            .validate()
            .is_ok()
    );
    assert!(matches!(
        invalid(connect(&[])),
        RouteSpecError::Count {
            field: "allow",
            count: 0,
            ..
        }
    ));
    assert_eq!(
        invalid(connect(&["a.test:443", "A.test:443"])),
        RouteSpecError::Duplicate {
            field: "allow",
            value: "a.test:443".into()
        }
    );
    // A non-public literal is refused when the route is added, not when it is loaded.
    let stored = RouteSpec::from(connect(&["10.1.2.3:22"]));
    assert!(stored.validate().is_ok());
    let err = stored.validate_new().unwrap_err();
    assert_eq!(
        err,
        RouteSpecError::PrivateDestination {
            pattern: "10.1.2.3:22".into(),
            range: "private"
        }
    );
    assert!(err.to_string().contains("allow_private"), "{err}");
    let mut route = connect(&["10.1.2.3:22", "[::1]:8080"]);
    route.allow_private = true;
    assert!(route.validate().is_ok());
    assert_eq!(route.allowed("10.1.2.3", 22), Some(&route.allow[0]));
    assert_eq!(route.allowed("10.1.2.3", 23), None);
    // Ranges built by hand are re-checked.
    route.allow.push(ConnectPattern {
        host: "x.test".parse().unwrap(),
        ports: PortRange { first: 9, last: 1 },
    });
    assert_eq!(invalid(route).reason(), Some(Reason::ReversedRange));
    let too_many: Vec<String> = (1..=65).map(|p| format!("a.test:{p}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert!(matches!(
        invalid(connect(&too_many)),
        RouteSpecError::Count {
            count: 65,
            max: 64,
            ..
        }
    ));
}

#[test]
fn json_shape_defaults_and_strictness() {
    let spec: RouteSpec = serde_json::from_str(
        r#"{"kind":"http","host":"API.acme.test","upstreams":["https://10.0.0.5:8443"],"timeout":"1m 30s"}"#,
    )
    .unwrap();
    let RouteSpec::Http(route) = &spec else {
        panic!("{spec:?}")
    };
    assert!(route.path_prefix.is_root());
    assert_eq!(route.timeout, Some(Duration::from_secs(90)));
    assert_eq!(
        serde_json::to_string(&spec).unwrap(),
        r#"{"kind":"http","host":"api.acme.test","path_prefix":"/","upstreams":["https://10.0.0.5:8443"],"timeout":"1m 30s"}"#
    );
    let tcp = r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["10.0.0.7:5432"]}"#;
    assert_eq!(
        serde_json::to_string(&serde_json::from_str::<RouteSpec>(tcp).unwrap()).unwrap(),
        tcp
    );
    let conn = r#"{"kind":"connect","allow":["*.example.com:443"],"allow_private":false}"#;
    assert_eq!(
        serde_json::to_string(&serde_json::from_str::<RouteSpec>(conn).unwrap()).unwrap(),
        conn
    );

    let refused = [
        (r#"{"kind":"ftp","allow":[]}"#, "unknown variant"),
        (
            r#"{"host":"a.test","upstreams":["http://b"]}"#,
            "missing field `kind`",
        ),
        (r#"{}"#, "missing field `kind`"),
        (
            r#"{"host":"a.test","kind":"http","upstreams":["http://b"],"kind":"tcp"}"#,
            "duplicate field `kind`",
        ),
        (
            r#"{"host":"a.test","kind":"http","host":"b.test","upstreams":["http://b"]}"#,
            "duplicate field `host`",
        ),
        (r#"{"host":"a.test","kind":"ftp"}"#, "unknown variant `ftp`"),
        (
            r#"{"upstreams":["ftp://b"],"kind":"http","host":"a.test"}"#,
            "scheme must be http or https",
        ),
        (r#"["http"]"#, "an object with a \"kind\" field"),
        (
            r#"{"kind":"tcp","sni":"a.test","upstreams":["b:1"],"extra":1}"#,
            "unknown field",
        ),
        (
            r#"{"kind":"http","host":"a.test","upstreams":["http://b"],"timeout":"soon"}"#,
            "timeout \"soon\"",
        ),
        (
            r#"{"kind":"http","host":"a.test","upstreams":["http://b"],"timeout":"0s"}"#,
            "greater than zero",
        ),
        (
            r#"{"kind":"http","host":"a.test","upstreams":["ftp://b"]}"#,
            "scheme must be http or https",
        ),
        (
            r#"{"kind":"http","host":"a.test","upstreams":["http://b"],"upstream_tls":{"sni":"x"}}"#,
            "unknown field",
        ),
        (
            r#"{"kind":"connect","allow":["*:443"]}"#,
            "wildcard needs a suffix",
        ),
    ];
    // A stored CONNECT route with a non-public literal loads (only adding it is refused).
    let stored: RouteSpec =
        serde_json::from_str(r#"{"kind":"connect","allow":["127.0.0.1:80"]}"#).unwrap();
    assert!(
        stored
            .validate_new()
            .unwrap_err()
            .to_string()
            .contains("allow_private")
    );
    for (json, needle) in refused {
        let err = serde_json::from_str::<RouteSpec>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
    let timeout_err = serde_json::from_str::<HttpRoute>(
        r#"{"host":"a.test","upstreams":["http://b"],"timeout":"soon"}"#,
    )
    .unwrap_err();
    assert!(
        timeout_err.to_string().contains("not a duration"),
        "{timeout_err}"
    );
}

#[test]
fn conflicts() {
    let a = RouteSpec::from(http("api.acme.test", "/v1", &["http://a"]));
    let same = RouteSpec::from(http("API.acme.test", "/v1", &["https://other"]));
    let other_path = RouteSpec::from(http("api.acme.test", "/v2", &["http://a"]));
    let wildcard = RouteSpec::from(http("*.acme.test", "/v1", &["http://a"]));
    assert!(a.conflicts_with(&same) && same.conflicts_with(&a));
    assert!(!a.conflicts_with(&other_path));
    assert!(
        !a.conflicts_with(&wildcard),
        "overlap is resolved by specificity"
    );
    let t1 = RouteSpec::from(tcp("db.acme.test", &["a:1"]));
    let t2 = RouteSpec::from(tcp("db.acme.test", &["b:2"]));
    assert!(t1.conflicts_with(&t2));
    assert!(!t1.conflicts_with(&RouteSpec::from(tcp("*.acme.test", &["a:1"]))));
    let c1 = RouteSpec::from(connect(&["a.test:443", "b.test:22"]));
    let c2 = RouteSpec::from(connect(&["c.test:1", "b.test:22"]));
    let c3 = RouteSpec::from(connect(&["b.test:22-23"]));
    assert!(c1.conflicts_with(&c2) && c2.conflicts_with(&c1));
    assert!(!c1.conflicts_with(&c3));
    assert!(!a.conflicts_with(&t1) && !t1.conflicts_with(&c1));
}

#[test]
fn summaries() {
    let mut route = http(
        "api.acme.test",
        "/v1",
        &["https://10.0.0.5:8443", "https://10.0.0.6:8443"],
    );
    assert_eq!(
        RouteSpec::from(route.clone()).summary(),
        "http api.acme.test/v1 -> https://10.0.0.5:8443 (+1)"
    );
    route.egress_bind = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
    route.path_prefix = crate::PathPrefix::root();
    assert_eq!(
        RouteSpec::from(route).summary(),
        "http api.acme.test/ -> https://10.0.0.5:8443 (+1) via 203.0.113.7"
    );
    assert_eq!(
        RouteSpec::from(tcp("db.acme.test", &["10.0.0.7:5432"])).summary(),
        "tcp db.acme.test -> 10.0.0.7:5432"
    );
    let mut c = connect(&["a.test:443", "b.test:22", "[::1]:80", "d.test:1-9"]);
    c.allow_private = true;
    assert_eq!(
        RouteSpec::from(c).summary(),
        "connect a.test:443, b.test:22, [::1]:80 (+1) [private allowed]"
    );
}
