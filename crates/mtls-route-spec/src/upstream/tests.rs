use std::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn upstream_reason(text: &str) -> Reason {
    match text.parse::<UpstreamUrl>() {
        Err(RouteSpecError::Upstream { value, reason }) => {
            assert_eq!(value, text, "the error names the rejected value");
            reason
        }
        other => panic!("{text:?}: expected an upstream error, got {other:?}"),
    }
}

#[test]
fn accepts_and_canonicalises() {
    let cases = [
        ("https://10.0.0.5:8443", "https://10.0.0.5:8443"),
        ("http://api.internal", "http://api.internal"),
        ("HTTP://API.Internal:80", "http://api.internal"),
        ("https://api.internal:443/", "https://api.internal"),
        (
            "https://api.internal/base/v2",
            "https://api.internal/base/v2",
        ),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://[2001:DB8::1]", "https://[2001:db8::1]"),
        ("http://localhost:443", "http://localhost:443"),
    ];
    for (text, shown) in cases {
        let url: UpstreamUrl = text.parse().unwrap();
        assert_eq!(url.to_string(), shown, "{text}");
        assert!(
            shown.parse::<http::Uri>().is_ok(),
            "{shown} is a valid http::Uri"
        );
    }
    let url: UpstreamUrl = "https://[::1]/base".parse().unwrap();
    assert_eq!(url.scheme(), Scheme::Https);
    assert!(url.is_https());
    assert_eq!(url.host(), "::1");
    assert_eq!(url.ip(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(url.port(), 443);
    assert_eq!(url.base_path().as_str(), "/base");
    let plain: UpstreamUrl = "http://a.test".parse().unwrap();
    assert_eq!(
        (plain.port(), plain.ip(), plain.is_https()),
        (80, None, false)
    );
    assert_eq!(
        "http://a.test:80".parse::<UpstreamUrl>().unwrap(),
        plain,
        "default port compares equal"
    );
}

#[test]
fn rejections_have_exact_reasons() {
    let cases = [
        ("", Reason::Empty),
        ("api.internal:8080", Reason::MissingScheme),
        ("ftp://x", Reason::BadScheme),
        ("ws://x", Reason::BadScheme),
        ("https://user:pw@api.internal", Reason::UserInfo),
        ("https://api.internal/a?x=1", Reason::QueryOrFragment),
        ("https://api.internal#frag", Reason::QueryOrFragment),
        ("https://", Reason::MissingHost),
        ("https:///path", Reason::MissingHost),
        ("https://:443", Reason::MissingHost),
        ("https://api.internal:0", Reason::PortZero),
        ("https://api.internal:99999", Reason::BadPort),
        ("https://api.internal:", Reason::BadPort),
        ("https://*.internal", Reason::WildcardNotAllowed),
        ("https://a_b.internal", Reason::BadChar { found: '_' }),
        ("https://::1", Reason::UnbracketedIpv6),
        ("https://[::1", Reason::BadIpv6),
        ("https://api.internal/base/", Reason::TrailingSlash),
        ("https://api.internal/a/../b", Reason::DotSegment),
        ("https://api.internal//b", Reason::EmptySegment),
        ("https://api.internal/a b", Reason::BadChar { found: ' ' }),
        ("https://api.internal/%zz", Reason::BadPercentEscape),
        ("https://1.2.3", Reason::NumericTopLabel),
    ];
    for (text, reason) in cases {
        assert_eq!(upstream_reason(text), reason, "{text:?}");
    }
}

#[test]
fn error_message_matches_the_brief() {
    let err = "ftp://x".parse::<UpstreamUrl>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"upstream "ftp://x": scheme must be http or https"#
    );
}

#[test]
fn serde_is_the_canonical_string() {
    let url: UpstreamUrl = serde_json::from_str(r#""HTTPS://A.test:443/x""#).unwrap();
    assert_eq!(
        serde_json::to_string(&url).unwrap(),
        r#""https://a.test/x""#
    );
    assert!(serde_json::from_str::<UpstreamUrl>(r#""ftp://a""#).is_err());
}

fn url_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "(https?|HTTP|ftp)://[a-z0-9.:@\\[\\]]{0,12}(/[a-z%.?#]{0,5}){0,2}",
        "https?://([a-z]{1,4}\\.){0,2}[a-z]{1,4}(:[0-9]{1,5})?(/[a-z0-9]{1,4}){0,3}",
        "http://\\[[0-9a-f:]{2,10}\\](:[0-9]{1,5})?",
    ]
}

proptest! {
    #[test]
    fn display_round_trips_and_is_an_http_uri(text in url_like()) {
        if let Ok(url) = text.parse::<UpstreamUrl>() {
            let shown = url.to_string();
            let again: UpstreamUrl = shown.parse().unwrap();
            prop_assert_eq!(&again, &url);
            prop_assert_eq!(again.to_string(), shown.clone());
            prop_assert!(shown.parse::<http::Uri>().is_ok());
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = text.parse::<UpstreamUrl>();
        let _ = format!("https://{text}").parse::<UpstreamUrl>();
    }
}
