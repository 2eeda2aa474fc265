use proptest::prelude::*;

use super::*;

fn path_reason(text: &str) -> Reason {
    match text.parse::<PathPrefix>() {
        Err(RouteSpecError::PathPrefix { value, reason }) => {
            assert_eq!(value, text, "the error names the rejected value");
            reason
        }
        other => panic!("{text:?}: expected a path prefix error, got {other:?}"),
    }
}

#[test]
fn accepts_and_canonicalises() {
    let cases = [
        ("/", "/"),
        ("/api", "/api"),
        ("/api/v1", "/api/v1"),
        ("/a%2fb", "/a%2Fb"),
        ("/%7Euser/%41%2d%5F", "/~user/A-_"),
        ("/a%2eb", "/a.b"),
        ("/a%c3%a9", "/a%C3%A9"),
        ("/...", "/..."),
        ("/.well-known/acme", "/.well-known/acme"),
        ("/a.b/c..d", "/a.b/c..d"),
        ("/~user/!$&'()*+,;=:@", "/~user/!$&'()*+,;=:@"),
    ];
    for (text, shown) in cases {
        let prefix: PathPrefix = text.parse().unwrap();
        assert_eq!(prefix.to_string(), shown, "{text}");
    }
    assert_eq!(PathPrefix::default(), PathPrefix::root());
    assert!(PathPrefix::root().is_root());
    assert_eq!(PathPrefix::root().segment_count(), 0);
    assert_eq!("/api/v1".parse::<PathPrefix>().unwrap().segment_count(), 2);
}

#[test]
fn rejections_have_exact_reasons() {
    let long = format!("/{}", "a".repeat(1024));
    let cases = [
        ("", Reason::Empty),
        ("api", Reason::NotAbsolute),
        ("*", Reason::NotAbsolute),
        ("/api?x=1", Reason::QueryOrFragment),
        ("/api#top", Reason::QueryOrFragment),
        ("/a//b", Reason::EmptySegment),
        ("//a", Reason::EmptySegment),
        ("/a/./b", Reason::DotSegment),
        ("/a/..", Reason::DotSegment),
        ("/..", Reason::DotSegment),
        ("/a/%2e%2E", Reason::DotSegment),
        ("/a/.%2e/b", Reason::DotSegment),
        ("/%2E", Reason::DotSegment),
        ("/api/", Reason::TrailingSlash),
        ("//", Reason::TrailingSlash),
        ("/a b", Reason::BadChar { found: ' ' }),
        ("/a\tb", Reason::BadChar { found: '\t' }),
        ("/caf\u{e9}", Reason::BadChar { found: '\u{e9}' }),
        ("/a\u{7f}", Reason::BadChar { found: '\u{7f}' }),
        ("/a%", Reason::BadPercentEscape),
        ("/a%2", Reason::BadPercentEscape),
        ("/a%zz", Reason::BadPercentEscape),
        ("/a%\u{e9}", Reason::BadPercentEscape),
        (
            long.as_str(),
            Reason::TooLong {
                len: 1025,
                max: 1024,
            },
        ),
    ];
    for (text, reason) in cases {
        assert_eq!(path_reason(text), reason, "{text:?}");
    }
    let max = format!("/{}", "a".repeat(1023));
    assert!(max.parse::<PathPrefix>().is_ok(), "1024 bytes is allowed");
}

#[test]
fn matches_on_segment_boundaries() {
    let api: PathPrefix = "/api".parse().unwrap();
    assert!(api.matches("/api"));
    assert!(api.matches("/api/"));
    assert!(api.matches("/api/x"));
    assert!(api.matches("/api/x/y"));
    assert!(!api.matches("/apix"));
    assert!(!api.matches("/ap"));
    assert!(!api.matches("/API"));
    assert!(!api.matches(""));
    let root = PathPrefix::root();
    for path in ["/", "/x", "", "/api/v1"] {
        assert!(root.matches(path), "{path}");
    }
}

#[test]
fn serde_is_the_string_and_validates() {
    let prefix: PathPrefix = serde_json::from_str(r#""/a%2f""#).unwrap();
    assert_eq!(serde_json::to_string(&prefix).unwrap(), r#""/a%2F""#);
    let err = serde_json::from_str::<PathPrefix>(r#""/a/""#).unwrap_err();
    assert!(err.to_string().contains("must not end with '/'"), "{err}");
}

/// A separate, deliberately naive statement of the path prefix rules.
fn reference_path(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 1024 || !s.starts_with('/') {
        return None;
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) || s.contains('?') || s.contains('#') {
        return None;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '%' {
            if i + 2 >= chars.len() {
                return None;
            }
            let (h, l) = (chars[i + 1], chars[i + 2]);
            if !h.is_ascii_hexdigit() || !l.is_ascii_hexdigit() {
                return None;
            }
            let byte = u8::from_str_radix(&format!("{h}{l}"), 16).unwrap();
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.extend(h.to_uppercase());
                out.extend(l.to_uppercase());
            }
            i += 3;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    if out == "/" {
        return Some(out);
    }
    if out.ends_with('/') {
        return None;
    }
    for segment in out[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return None;
        }
    }
    Some(out)
}

fn path_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[/a.%2eEfz?# \u{e9}~]{0,12}",
        "(/([a-z]{1,3}|\\.|\\.\\.|%2[eEfF]|%[4-7][0-9a-fA-F]|%[0-9a-fA-Fg]{0,2})){0,5}/?",
    ]
}

proptest! {
    #[test]
    fn path_prefix_agrees_with_reference(text in path_like()) {
        let ours = text.parse::<PathPrefix>().ok().map(|p| p.as_str().to_owned());
        prop_assert_eq!(ours, reference_path(&text), "{:?}", text);
    }

    #[test]
    fn display_round_trips_and_matches_itself(text in path_like()) {
        if let Ok(prefix) = text.parse::<PathPrefix>() {
            let again: PathPrefix = prefix.to_string().parse().unwrap();
            prop_assert_eq!(&again, &prefix);
            prop_assert!(prefix.matches(prefix.as_str()));
            let deeper = format!("{}/x", prefix.as_str().trim_end_matches('/'));
            prop_assert!(prefix.matches(&deeper));
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>(), path in any::<String>()) {
        if let Ok(prefix) = text.parse::<PathPrefix>() {
            let _ = prefix.matches(&path);
        }
    }
}
