use std::net::{IpAddr, Ipv4Addr};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use super::*;

fn cert() -> ForwardedClientCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "acme");
    let der = params.self_signed(&key).unwrap().der().to_vec();
    ForwardedClientCert::from_der(&der, Some("spiffe://proxy.test/tenant/acme")).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

#[test]
fn hop_by_hop_and_connection_listed_headers_go() {
    let mut headers = map(&[
        ("connection", "keep-alive, x-secret"),
        ("connection", "x-other"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        ("proxy-authenticate", "Basic"),
        ("te", "trailers"),
        ("trailer", "x-checksum"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("x-secret", "1"),
        ("x-other", "2"),
        ("accept", "*/*"),
        ("content-length", "10"),
    ]);
    strip_hop_by_hop(&mut headers, true);
    let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    // `Connection` did not list `upgrade`: not a real upgrade, so Upgrade goes too.
    assert_eq!(left, ["accept", "content-length"]);
}

#[test]
fn real_upgrade_keeps_upgrade_and_connection() {
    let mut headers = map(&[
        ("connection", "Upgrade, x-secret"),
        ("upgrade", "websocket"),
        ("x-secret", "1"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]);
    assert_eq!(upgrade_protocol(&headers).unwrap(), "websocket");
    let mut without = headers.clone();
    strip_hop_by_hop(&mut headers, true);
    assert_eq!(headers.get("upgrade").unwrap(), "websocket");
    assert_eq!(headers.get("connection").unwrap(), "upgrade");
    assert!(headers.get("x-secret").is_none());
    assert!(headers.get("sec-websocket-key").is_some());
    // Without keep_upgrade the upgrade is stripped like any hop-by-hop header.
    strip_hop_by_hop(&mut without, false);
    assert!(without.get("upgrade").is_none() && without.get("connection").is_none());
}

#[test]
fn upgrade_needs_connection_token() {
    assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
    assert!(upgrade_protocol(&map(&[("connection", "upgrade")])).is_none());
    assert!(
        upgrade_protocol(&map(&[
            ("connection", "keep-alive,UPGRADE"),
            ("upgrade", "h2c")
        ]))
        .is_some()
    );
}

#[test]
fn spoofed_identity_headers_are_replaced() {
    let cert = cert();
    let mut headers = map(&[
        (
            "x-forwarded-client-cert",
            "Hash=evil;URI=spiffe://proxy.test/tenant/admin",
        ),
        ("x-mtls-tenant", "admin"),
        ("x-mtls-anything", "x"),
        ("x-forwarded-for", "10.9.9.9"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "evil.test"),
        ("x-real-ip", "10.9.9.9"),
        ("forwarded", "for=10.9.9.9"),
        ("host", "api.acme.test"),
        ("authorization", "Bearer t"),
        // Listing our own headers in Connection removes only the client's copies.
        ("connection", "x-mtls-tenant, x-forwarded-for"),
    ]);
    let client = ClientFacts {
        tenant: "acme",
        client_ip: CLIENT_IP,
        client_cert: &cert,
    };
    let rewrite = HeaderRewrite {
        host: Some(HeaderValue::from_static("backend.internal")),
        add: vec![(
            HeaderName::from_static("x-env"),
            HeaderValue::from_static("prod"),
        )],
        forwarded_for: ForwardedFor::Replace,
    };
    let original = headers.get("host").cloned();
    rewrite_request_headers(&mut headers, &client, &rewrite, original.as_ref(), false);

    assert_eq!(headers.get_all(X_FORWARDED_CLIENT_CERT).iter().count(), 1);
    assert_eq!(headers[X_FORWARDED_CLIENT_CERT], *cert.header_value());
    assert_eq!(
        headers.get_all(X_MTLS_TENANT).iter().collect::<Vec<_>>(),
        ["acme"]
    );
    assert!(headers.get("x-mtls-anything").is_none());
    assert_eq!(headers[X_FORWARDED_FOR], "192.0.2.7");
    assert_eq!(headers[X_FORWARDED_PROTO], "https");
    assert_eq!(headers[X_FORWARDED_HOST], "api.acme.test");
    assert!(headers.get("x-real-ip").is_none());
    assert!(headers.get("forwarded").is_none());
    assert!(headers.get("connection").is_none());
    assert_eq!(headers["host"], "backend.internal");
    assert_eq!(headers["x-env"], "prod");
    assert_eq!(headers["authorization"], "Bearer t");
}

#[test]
fn underscore_look_alikes_of_identity_headers_are_dropped() {
    let cert = cert();
    let mut headers = map(&[
        ("x_mtls_tenant", "b"),
        ("X_Forwarded_Client_Cert", "Hash=evil"),
        ("x-forwarded_client-cert", "Hash=evil"),
        ("x_mtls-anything", "x"),
        ("x_forwarded_host", "evil.test"),
        ("x_forwarded_proto", "http"),
        ("x_real_ip", "10.9.9.9"),
        ("x_forwarded_for", "10.9.9.9"),
        ("x_env", "dev"),
        // Not a look-alike of anything the proxy vouches for: passes.
        ("x_api_key", "k"),
    ]);
    let client = ClientFacts {
        tenant: "acme",
        client_ip: CLIENT_IP,
        client_cert: &cert,
    };
    let rewrite = HeaderRewrite {
        add: vec![(
            HeaderName::from_static("x-env"),
            HeaderValue::from_static("prod"),
        )],
        ..HeaderRewrite::default()
    };
    rewrite_request_headers(&mut headers, &client, &rewrite, None, false);
    let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    left.sort_unstable();
    assert_eq!(
        left,
        [
            "x-env",
            "x-forwarded-client-cert",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-mtls-tenant",
            "x_api_key",
        ]
    );
    assert_eq!(headers[X_MTLS_TENANT], "acme");
    assert_eq!(headers["x-env"], "prod");
}

#[test]
fn identity_names_match_with_either_spelling_and_any_case() {
    for name in [
        "x-forwarded-client-cert",
        "X_FORWARDED_CLIENT_CERT",
        "x-forwarded_client-cert",
        "x-mtls-tenant",
        "x_mtls_tenant",
        "X-Mtls_",
        "forwarded",
        "Forwarded",
        "x_forwarded_host",
        "x_forwarded_proto",
        "x_real_ip",
        "x_forwarded_for",
    ] {
        assert!(is_client_identity(name), "{name}");
    }
    for name in [
        "x-forwarded-for",
        "x-mtls",
        "x_mtls",
        "xmtls-tenant",
        "x-forwarded-client-cert2",
        "x_api_key",
        "forwarded-x",
    ] {
        assert!(!is_client_identity(name), "{name}");
    }
}

#[test]
fn trailers_lose_identity_and_framing_fields() {
    let mut trailers = map(&[
        ("x-mtls-tenant", "admin"),
        ("x_mtls_tenant", "admin"),
        ("x-forwarded-client-cert", "Hash=evil"),
        ("x-forwarded-for", "10.9.9.9"),
        ("x_forwarded_for", "10.9.9.9"),
        ("forwarded", "for=10.9.9.9"),
        ("host", "evil.test"),
        ("content-length", "1"),
        ("transfer-encoding", "chunked"),
        ("x-checksum", "abc"),
        ("grpc-status", "0"),
    ]);
    sanitize_request_trailers(&mut trailers);
    let mut left: Vec<&str> = trailers.keys().map(HeaderName::as_str).collect();
    left.sort_unstable();
    assert_eq!(left, ["grpc-status", "x-checksum"]);
}

#[test]
fn no_host_rewrite_leaves_host_to_the_client_library() {
    let cert = cert();
    let mut headers = map(&[("host", "api.acme.test")]);
    let client = ClientFacts {
        tenant: "acme",
        client_ip: CLIENT_IP,
        client_cert: &cert,
    };
    rewrite_request_headers(
        &mut headers,
        &client,
        &HeaderRewrite::default(),
        None,
        false,
    );
    assert!(headers.get("host").is_none());
    assert!(headers.get(X_FORWARDED_HOST).is_none());
}

#[test]
fn forwarded_for_append_keeps_the_chain() {
    let mut headers = map(&[
        ("x-forwarded-for", "203.0.113.1"),
        ("x-forwarded-for", "198.51.100.2"),
    ]);
    set_forwarded_for(&mut headers, CLIENT_IP, ForwardedFor::Append);
    assert_eq!(
        headers.get_all(X_FORWARDED_FOR).iter().collect::<Vec<_>>(),
        ["203.0.113.1, 198.51.100.2, 192.0.2.7"]
    );
    set_forwarded_for(&mut headers, CLIENT_IP, ForwardedFor::Replace);
    assert_eq!(headers[X_FORWARDED_FOR], "192.0.2.7");
    let mut empty = HeaderMap::new();
    set_forwarded_for(
        &mut empty,
        "2001:db8::1".parse().unwrap(),
        ForwardedFor::Append,
    );
    assert_eq!(empty[X_FORWARDED_FOR], "2001:db8::1");
}

#[test]
fn response_headers_lose_hop_by_hop() {
    let mut headers = map(&[
        ("connection", "close"),
        ("transfer-encoding", "chunked"),
        ("content-type", "text/plain"),
    ]);
    rewrite_response_headers(&mut headers, false);
    assert_eq!(headers.len(), 1);
    assert_eq!(headers["content-type"], "text/plain");
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x-forwarded-client-cert".to_owned()),
        Just("X-Forwarded-Client-Cert".to_owned()),
        Just("x-mtls-tenant".to_owned()),
        Just("X-MTLS-Tenant".to_owned()),
        Just("connection".to_owned()),
        Just("upgrade".to_owned()),
        Just("te".to_owned()),
        Just("transfer-encoding".to_owned()),
        Just("x-forwarded-for".to_owned()),
        Just("forwarded".to_owned()),
        Just("host".to_owned()),
        Just("x_mtls_tenant".to_owned()),
        Just("X_Forwarded_Client_Cert".to_owned()),
        Just("x-forwarded_client-cert".to_owned()),
        Just("x_forwarded_for".to_owned()),
        "x[-_]mtls[-_][a-z0-9_-]{1,12}",
        "x-mtls-[a-z0-9-]{1,12}",
        "[a-z][a-z0-9-]{0,15}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("upgrade".to_owned()),
        Just("x-mtls-tenant, keep-alive".to_owned()),
        Just("x-forwarded-client-cert".to_owned()),
        "[ -~]{0,24}",
    ]
}

fn headers_strategy() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((header_name(), header_value()), 0..16).prop_map(|pairs| {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                headers.append(name, value);
            }
        }
        headers
    })
}

proptest! {
    #[test]
    fn stripping_is_idempotent(headers in headers_strategy(), keep_upgrade in any::<bool>()) {
        let mut once = headers.clone();
        strip_hop_by_hop(&mut once, keep_upgrade);
        strip_client_identity(&mut once);
        let mut twice = once.clone();
        strip_hop_by_hop(&mut twice, keep_upgrade);
        strip_client_identity(&mut twice);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn no_client_identity_header_survives(
        headers in headers_strategy(),
        keep_upgrade in any::<bool>(),
    ) {
        let cert = cert();
        let client = ClientFacts { tenant: "acme", client_ip: CLIENT_IP, client_cert: &cert };
        let mut headers = headers;
        rewrite_request_headers(&mut headers, &client, &HeaderRewrite::default(), None, keep_upgrade);
        for (name, value) in &headers {
            let cgi = name.as_str().replace('_', "-");
            prop_assert!(cgi == name.as_str() || !is_client_identity(name.as_str()), "look-alike {} survived", name);
            prop_assert!(!cgi.starts_with(X_MTLS_PREFIX) || cgi == name.as_str());
            if name.as_str().starts_with(X_MTLS_PREFIX) {
                prop_assert_eq!(name, &X_MTLS_TENANT);
                prop_assert_eq!(value, "acme");
            }
        }
        prop_assert_eq!(headers.get_all(X_MTLS_TENANT).iter().count(), 1);
        let xfcc: Vec<_> = headers.get_all(X_FORWARDED_CLIENT_CERT).iter().collect();
        prop_assert_eq!(xfcc, vec![cert.header_value()]);
        prop_assert_eq!(headers.get_all(X_FORWARDED_FOR).iter().collect::<Vec<_>>(), ["192.0.2.7"]);
        prop_assert!(headers.get("forwarded").is_none());
        prop_assert!(headers.get("te").is_none());
        prop_assert!(headers.get("transfer-encoding").is_none());
    }

    #[test]
    fn no_identity_trailer_survives(trailers in headers_strategy()) {
        let mut trailers = trailers;
        sanitize_request_trailers(&mut trailers);
        for name in trailers.keys() {
            prop_assert!(!is_client_identity(name.as_str()), "{} survived", name);
            prop_assert!(name.as_str().replace('_', "-") != "x-forwarded-for");
        }
    }
}
