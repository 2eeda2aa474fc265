use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::host_port::{HostPort, check_host_header, check_server_name};

fn host_reason(text: &str) -> Reason {
    match text.parse::<HostPattern>() {
        Err(RouteSpecError::Host { value, reason }) => {
            assert_eq!(value, text, "the error names the rejected value");
            reason
        }
        other => panic!("{text:?}: expected a host error, got {other:?}"),
    }
}

fn address_reason(text: &str) -> Reason {
    match text.parse::<HostPort>() {
        Err(RouteSpecError::Address { value, reason }) => {
            assert_eq!(value, text);
            reason
        }
        other => panic!("{text:?}: expected an address error, got {other:?}"),
    }
}

#[test]
fn host_pattern_accepts_names_wildcards_and_ips() {
    let cases = [
        ("api.example.com", "api.example.com"),
        ("API.Example.COM", "api.example.com"),
        ("*.example.com", "*.example.com"),
        ("*.COM", "*.com"),
        ("localhost", "localhost"),
        ("a-b.c9", "a-b.c9"),
        ("10.0.0.5", "10.0.0.5"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ];
    for (text, shown) in cases {
        let pattern: HostPattern = text.parse().unwrap();
        assert_eq!(pattern.to_string(), shown, "{text}");
    }
    let wildcard: HostPattern = "*.example.com".parse().unwrap();
    assert!(wildcard.is_wildcard());
    assert_eq!(wildcard.wildcard_suffix(), Some("example.com"));
    assert_eq!(wildcard.label_count(), 3);
    let v6: HostPattern = "[::1]".parse().unwrap();
    assert_eq!(v6.ip(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(v6.as_str(), "::1");
    assert_eq!(v6.label_count(), 0);
}

#[test]
fn host_pattern_rejections_have_exact_reasons() {
    let long_label = "a".repeat(64);
    let a63 = "a".repeat(63);
    let long_name = format!("{a63}.{a63}.{a63}.{}", "b".repeat(62));
    let max_name = format!("{a63}.{a63}.{a63}.{}", "b".repeat(61));
    assert!(
        max_name.parse::<HostPattern>().is_ok(),
        "253 bytes is allowed"
    );
    let cases: Vec<(&str, Reason)> = vec![
        ("", Reason::Empty),
        ("*", Reason::WildcardWithoutSuffix),
        ("*.", Reason::WildcardWithoutSuffix),
        ("a.*.com", Reason::MisplacedWildcard),
        ("*a.com", Reason::MisplacedWildcard),
        ("**.com", Reason::MisplacedWildcard),
        ("*.*.com", Reason::MisplacedWildcard),
        ("example.com.", Reason::EmptyLabel),
        (".example.com", Reason::EmptyLabel),
        ("a..com", Reason::EmptyLabel),
        (&long_label, Reason::LabelTooLong { len: 64 }),
        (&long_name, Reason::TooLong { len: 254, max: 253 }),
        ("a_b.com", Reason::BadChar { found: '_' }),
        ("bücher.de", Reason::BadChar { found: 'ü' }),
        ("a.com:443", Reason::BadChar { found: ':' }),
        ("a b", Reason::BadChar { found: ' ' }),
        ("-a.com", Reason::HyphenAtLabelEdge),
        ("a-.com", Reason::HyphenAtLabelEdge),
        ("1.2.3", Reason::NumericTopLabel),
        ("256.1.1.1", Reason::NumericTopLabel),
        ("01.2.3.4", Reason::NumericTopLabel),
        ("[::1", Reason::BadIpv6),
        ("[1.2.3.4]", Reason::BadIpv6),
        ("[fe80::1%eth0]", Reason::BadIpv6),
        ("::1", Reason::UnbracketedIpv6),
        ("2001:db8::1", Reason::UnbracketedIpv6),
    ];
    for (text, reason) in cases {
        assert_eq!(host_reason(text), reason, "{text:?}");
    }
}

#[test]
fn host_error_messages_name_the_value() {
    let err = "*.".parse::<HostPattern>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"host "*.": wildcard needs a suffix with at least one label, as in "*.example.com""#
    );
}

#[test]
fn exact_match_is_case_insensitive() {
    let pattern: HostPattern = "api.example.com".parse().unwrap();
    assert!(pattern.matches("api.example.com"));
    assert!(pattern.matches("API.Example.Com"));
    assert!(pattern.matches("api.example.com."));
    assert!(!pattern.matches("api.example.co"));
    assert!(!pattern.matches("x.api.example.com"));
    assert!(!pattern.matches(""));
}

#[test]
fn wildcard_matches_one_or_more_labels_never_the_suffix() {
    let pattern: HostPattern = "*.example.com".parse().unwrap();
    assert!(pattern.matches("a.example.com"));
    assert!(pattern.matches("a.b.example.com"));
    assert!(pattern.matches("A.EXAMPLE.com"));
    assert!(!pattern.matches("example.com"));
    assert!(!pattern.matches(".example.com"));
    assert!(!pattern.matches("a..example.com"));
    assert!(!pattern.matches("aexample.com"));
    assert!(!pattern.matches("a.example.org"));
    assert!(!pattern.matches("é.example.com.x"));
    assert!(!pattern.matches("ééééééééééééé"));
}

#[test]
fn ip_patterns_match_the_address_in_any_spelling() {
    let v4: HostPattern = "10.0.0.5".parse().unwrap();
    assert!(v4.matches("10.0.0.5"));
    assert!(!v4.matches("10.0.0.6"));
    let v6: HostPattern = "[2001:db8::1]".parse().unwrap();
    assert!(v6.matches("[2001:db8::1]"));
    assert!(v6.matches("2001:DB8:0::1"));
    assert!(!v6.matches("[2001:db8::2]"));
}

#[test]
fn host_port_parses_and_displays() {
    let cases = [
        (
            "db.example.com:5432",
            "db.example.com",
            5432,
            "db.example.com:5432",
        ),
        (
            "DB.example.com:05432",
            "db.example.com",
            5432,
            "db.example.com:5432",
        ),
        ("10.1.2.3:22", "10.1.2.3", 22, "10.1.2.3:22"),
        ("[::1]:8080", "::1", 8080, "[::1]:8080"),
        ("h:65535", "h", 65535, "h:65535"),
    ];
    for (text, host, port, shown) in cases {
        let hp: HostPort = text.parse().unwrap();
        assert_eq!((hp.host(), hp.port()), (host, port), "{text}");
        assert_eq!(hp.to_string(), shown);
    }
    let hp: HostPort = "10.1.2.3:22".parse().unwrap();
    assert_eq!(hp.ip(), Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))));
}

#[test]
fn host_port_rejections_have_exact_reasons() {
    let cases = [
        ("", Reason::Empty),
        ("db.example.com", Reason::MissingPort),
        ("[::1]", Reason::MissingPort),
        ("db:0", Reason::PortZero),
        ("db:65536", Reason::BadPort),
        ("db:", Reason::BadPort),
        ("db:+80", Reason::BadPort),
        ("db:123456", Reason::BadPort),
        ("*.example.com:443", Reason::WildcardNotAllowed),
        ("*:443", Reason::WildcardNotAllowed),
        ("::1:8080", Reason::UnbracketedIpv6),
        ("[::1]8080", Reason::BadIpv6),
        ("[::g]:80", Reason::BadIpv6),
        (":80", Reason::Empty),
        ("a_b:80", Reason::BadChar { found: '_' }),
    ];
    for (text, reason) in cases {
        assert_eq!(address_reason(text), reason, "{text:?}");
    }
}

#[test]
fn host_header_and_server_name_checks() {
    assert_eq!(check_host_header("api.example.com"), Ok(()));
    assert_eq!(check_host_header("api.example.com:8443"), Ok(()));
    assert_eq!(check_host_header("[::1]:80"), Ok(()));
    assert_eq!(check_host_header(""), Err(Reason::Empty));
    assert_eq!(check_host_header("a:0"), Err(Reason::PortZero));
    assert_eq!(
        check_host_header("*.a.com"),
        Err(Reason::WildcardNotAllowed)
    );
    assert_eq!(check_server_name("upstream.internal"), Ok(()));
    assert_eq!(check_server_name("10.0.0.1"), Ok(()));
    assert_eq!(check_server_name("2001:db8::1"), Ok(()));
    assert_eq!(check_server_name("[2001:db8::1]"), Ok(()));
    assert_eq!(check_server_name("a.com:443"), Err(Reason::UnexpectedPort));
    assert_eq!(check_server_name(""), Err(Reason::Empty));
}

#[test]
fn serde_uses_the_canonical_string_and_validates() {
    let pattern: HostPattern = serde_json::from_str(r#""*.Example.com""#).unwrap();
    assert_eq!(
        serde_json::to_string(&pattern).unwrap(),
        r#""*.example.com""#
    );
    let err = serde_json::from_str::<HostPattern>(r#""*""#).unwrap_err();
    assert!(err.to_string().contains("wildcard needs a suffix"), "{err}");
    let hp: HostPort = serde_json::from_str(r#""[::1]:80""#).unwrap();
    assert_eq!(serde_json::to_string(&hp).unwrap(), r#""[::1]:80""#);
    assert!(serde_json::from_str::<HostPort>(r#""x""#).is_err());
}

/// A separate, deliberately naive statement of the host pattern rules.
fn reference_host_pattern(s: &str) -> Option<String> {
    if s.len() >= 2 && s.starts_with('[') && s.ends_with(']') {
        return s[1..s.len() - 1]
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| ip.to_string());
    }
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(v4.to_string());
    }
    if s.len() > 253 {
        return None;
    }
    let (wildcard, name) = match s.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        let ok = (1..=63).contains(&label.len())
            && label.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'
            })
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return None;
        }
    }
    if labels.last()?.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let lower = name.to_lowercase();
    Some(if wildcard {
        format!("*.{lower}")
    } else {
        lower
    })
}

fn host_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-cA-C0-9*.:\\[\\]_-]{0,12}",
        "(\\*\\.)?([a-z0-9-]{1,5}\\.){0,3}[a-z0-9-]{1,5}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "\\[[0-9a-f:]{0,12}\\]",
        "(\\*\\.)?([a-z]{60,64}\\.){3,4}[a-z]{1,3}",
    ]
}

proptest! {
    /// An IP host's text is the address's canonical form, whatever way it was written (an
    /// IPv4 address keeps its own text: only the canonical form parses as one).
    #[test]
    fn ip_hosts_keep_the_canonical_text(v4 in any::<Ipv4Addr>(), v6 in any::<Ipv6Addr>(), octet in 0u8..10) {
        for (text, ip) in [
            (v4.to_string(), IpAddr::V4(v4)),
            (format!("[{v6}]"), IpAddr::V6(v6)),
            (format!("[{}]", v6.segments().map(|s| format!("{s:04X}")).join(":")), IpAddr::V6(v6)),
        ] {
            let pattern: HostPattern = text.parse().unwrap();
            prop_assert_eq!(pattern.as_str(), ip.to_string());
            prop_assert_eq!(pattern.ip(), Some(ip));
            let host = Host::parse(&text).unwrap();
            prop_assert_eq!(host.as_str(), ip.to_string());
        }
        // A leading zero is not an IPv4 address (nor a DNS name: the last label is numeric).
        let leading_zero = format!("0{octet}.1.2.3");
        prop_assert!(Host::parse(&leading_zero).is_err());
    }

    #[test]
    fn host_pattern_agrees_with_reference(text in host_like()) {
        let ours = text.parse::<HostPattern>().ok().map(|p| p.as_str().to_owned());
        prop_assert_eq!(ours, reference_host_pattern(&text), "{:?}", text);
    }

    #[test]
    fn host_pattern_display_round_trips(text in host_like()) {
        if let Ok(pattern) = text.parse::<HostPattern>() {
            let again: HostPattern = pattern.to_string().parse().unwrap();
            prop_assert_eq!(&again, &pattern);
            prop_assert!(again.matches(&text) || pattern.is_wildcard());
        }
    }

    #[test]
    fn wildcard_matches_any_prefix_labels(prefix in "([a-z0-9]{1,4}\\.){1,3}", name in "([a-z]{1,4}\\.){0,2}[a-z]{1,4}") {
        let pattern: HostPattern = format!("*.{name}").parse().unwrap();
        let host = format!("{prefix}{name}");
        prop_assert!(pattern.matches(&host));
        prop_assert!(pattern.matches(&host.to_uppercase()));
        prop_assert!(!pattern.matches(&name));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = text.parse::<HostPattern>();
        let _ = text.parse::<HostPort>();
        let _ = check_host_header(&text);
        let _ = check_server_name(&text);
        let pattern: HostPattern = "*.example.com".parse().unwrap();
        let _ = pattern.matches(&text);
    }
}
