use proptest::prelude::*;

use super::*;

fn pattern_reason(text: &str) -> Reason {
    match text.parse::<ConnectPattern>() {
        Err(RouteSpecError::ConnectPattern { value, reason }) => {
            assert_eq!(value, text, "the error names the rejected value");
            reason
        }
        other => panic!("{text:?}: expected a connect pattern error, got {other:?}"),
    }
}

fn range_reason(text: &str) -> Reason {
    match text.parse::<PortRange>() {
        Err(RouteSpecError::PortRange { value, reason }) => {
            assert_eq!(value, text);
            reason
        }
        other => panic!("{text:?}: expected a port range error, got {other:?}"),
    }
}

#[test]
fn port_ranges() {
    let single: PortRange = "443".parse().unwrap();
    assert_eq!(
        single,
        PortRange {
            first: 443,
            last: 443
        }
    );
    assert_eq!(single.to_string(), "443");
    let range: PortRange = "8000-8100".parse().unwrap();
    assert_eq!(range.to_string(), "8000-8100");
    assert!(range.contains(8000) && range.contains(8100) && range.contains(8050));
    assert!(!range.contains(7999) && !range.contains(8101));
    assert_eq!("80-80".parse::<PortRange>().unwrap().to_string(), "80");
    assert_eq!(PortRange::single(22).unwrap().to_string(), "22");
    assert_eq!(
        PortRange::new(0, 5).unwrap_err().reason(),
        Some(Reason::PortZero)
    );
    assert_eq!(
        PortRange::new(9, 5).unwrap_err().reason(),
        Some(Reason::ReversedRange)
    );
    let cases = [
        ("", Reason::Empty),
        ("0", Reason::PortZero),
        ("0-10", Reason::PortZero),
        ("10-5", Reason::ReversedRange),
        ("65536", Reason::BadPort),
        ("1-", Reason::BadPort),
        ("-1", Reason::BadPort),
        ("1-2-3", Reason::BadPort),
        ("http", Reason::BadPort),
    ];
    for (text, reason) in cases {
        assert_eq!(range_reason(text), reason, "{text:?}");
    }
}

#[test]
fn connect_patterns_from_the_brief() {
    let cases = [
        ("db.example.com:5432", "db.example.com:5432"),
        ("*.example.com:443", "*.example.com:443"),
        ("10.1.2.3:22", "10.1.2.3:22"),
        ("[::1]:8080", "[::1]:8080"),
        ("api.example.com:8000-8100", "api.example.com:8000-8100"),
        ("API.example.com:0443", "api.example.com:443"),
    ];
    for (text, shown) in cases {
        let pattern: ConnectPattern = text.parse().unwrap();
        assert_eq!(pattern.to_string(), shown, "{text}");
    }
    let pattern: ConnectPattern = "*.example.com:8000-8100".parse().unwrap();
    assert!(pattern.matches("a.example.com", 8080));
    assert!(!pattern.matches("a.example.com", 443));
    assert!(!pattern.matches("example.com", 8080));
    let v6: ConnectPattern = "[::1]:8080".parse().unwrap();
    assert!(v6.matches("::1", 8080));
    assert!(v6.matches("[::1]", 8080));
}

#[test]
fn connect_pattern_rejections_have_exact_reasons() {
    let cases = [
        ("", Reason::Empty),
        ("*:443", Reason::WildcardWithoutSuffix),
        ("*.:443", Reason::WildcardWithoutSuffix),
        ("db.example.com", Reason::MissingPort),
        ("db.example.com:0", Reason::PortZero),
        ("db.example.com:9-1", Reason::ReversedRange),
        ("db.example.com:x", Reason::BadPort),
        ("::1:8080", Reason::UnbracketedIpv6),
        ("[::1]", Reason::MissingPort),
        ("a.*.com:1", Reason::MisplacedWildcard),
        (":443", Reason::Empty),
    ];
    for (text, reason) in cases {
        assert_eq!(pattern_reason(text), reason, "{text:?}");
    }
}

proptest! {
    #[test]
    fn port_range_round_trips(a in 1u16.., b in 1u16..) {
        let range = PortRange::new(a.min(b), a.max(b)).unwrap();
        let again: PortRange = range.to_string().parse().unwrap();
        prop_assert_eq!(again, range);
        prop_assert!(range.contains(a) && range.contains(b));
    }

    #[test]
    fn connect_pattern_round_trips(text in "(\\*\\.)?([a-z]{1,3}\\.){0,2}[a-z]{1,3}:[0-9]{1,5}(-[0-9]{1,5})?") {
        if let Ok(pattern) = text.parse::<ConnectPattern>() {
            let again: ConnectPattern = pattern.to_string().parse().unwrap();
            prop_assert_eq!(again, pattern);
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>(), port in any::<u16>()) {
        let _ = text.parse::<PortRange>();
        if let Ok(pattern) = text.parse::<ConnectPattern>() {
            let _ = pattern.matches(&text, port);
        }
    }
}
