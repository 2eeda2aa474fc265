//! `allow_private` on HTTP and TCP routes: refused at add time for non-public IP literals,
//! never at load time (stored routes keep loading), shown in summaries, round-tripped.

use mtls_route_spec::{HttpRoute, RouteSpec, RouteSpecError, TcpRoute};

#[test]
fn stored_routes_without_the_field_load_and_keep_loading_with_private_literals() {
    // As stored before the field existed: no allow_private, a loopback upstream.
    let http = r#"{"kind":"http","host":"api.acme.test","path_prefix":"/","upstreams":["http://127.0.0.1:8080"]}"#;
    let tcp = r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["10.0.0.7:5432"]}"#;
    for json in [http, tcp] {
        let spec: RouteSpec = serde_json::from_str(json).unwrap();
        spec.validate().unwrap();
        // Serialising again leaves the JSON as it was (false is not written).
        assert_eq!(serde_json::to_string(&spec).unwrap(), json);
        // But the same route could not be added now.
        assert!(
            matches!(
                spec.validate_new(),
                Err(RouteSpecError::PrivateUpstream { .. })
            ),
            "{json}"
        );
    }
}

#[test]
fn adding_a_non_public_literal_needs_allow_private_and_names_the_range() {
    let cases = [
        ("http://127.0.0.1:8080", "loopback (127.0.0.0/8)"),
        ("http://10.1.2.3", "private (10.0.0.0/8)"),
        (
            "http://169.254.169.254",
            "link-local (includes cloud metadata) (169.254.0.0/16)",
        ),
        (
            "http://[64:ff9b::a00:1]:80",
            "private (10.0.0.0/8) of 10.0.0.1 embedded by NAT64 well-known prefix (64:ff9b::/96)",
        ),
        ("https://[::1]:8443", "loopback (::1/128)"),
    ];
    for (upstream, range) in cases {
        let mut route = HttpRoute::new(
            "api.acme.test".parse().unwrap(),
            vec![upstream.parse().unwrap()],
        );
        let err = RouteSpec::from(route.clone()).validate_new().unwrap_err();
        let text = err.to_string();
        assert!(text.contains(range), "{upstream}: {text}");
        assert!(text.contains("allow_private"), "{text}");
        route.allow_private = true;
        let spec = RouteSpec::from(route);
        spec.validate_new().unwrap();
        assert!(
            spec.summary().ends_with("[private allowed]"),
            "{}",
            spec.summary()
        );
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains(r#""allow_private":true"#), "{json}");
        assert_eq!(serde_json::from_str::<RouteSpec>(&json).unwrap(), spec);
    }

    let mut tcp = TcpRoute::new(
        "db.acme.test".parse().unwrap(),
        vec![
            "db.internal.test:5432".parse().unwrap(),
            "[fd00::7]:5432".parse().unwrap(),
        ],
    );
    let err = RouteSpec::from(tcp.clone()).validate_new().unwrap_err();
    assert_eq!(
        err.to_string(),
        "upstream \"[fd00::7]:5432\": unique local (private) (fc00::/7) address; \
         set allow_private (tenantctl: --allow-private) to permit it"
    );
    tcp.allow_private = true;
    RouteSpec::from(tcp).validate_new().unwrap();
}

#[test]
fn names_and_public_literals_pass_add_time_checks() {
    // A name is judged at dial time, on the addresses it resolves to.
    for upstream in [
        "http://localhost:8080",
        "https://203.0.114.1",
        "http://[2001:4860::1]",
    ] {
        let route = HttpRoute::new(
            "api.acme.test".parse().unwrap(),
            vec![upstream.parse().unwrap()],
        );
        RouteSpec::from(route).validate_new().unwrap();
    }
}
