use std::borrow::Cow;

use super::*;

const REFUSE: NormalizeOptions = NormalizeOptions {
    escaped_slashes: EscapedSlashes::Refuse,
};
const KEEP: NormalizeOptions = NormalizeOptions {
    escaped_slashes: EscapedSlashes::Keep,
};

#[test]
fn normalises_by_the_rules() {
    let cases = [
        // Already normal: unchanged.
        ("/", "/"),
        ("/v1", "/v1"),
        ("/v1/", "/v1/"),
        ("/v1/orders/42", "/v1/orders/42"),
        ("/a%20b/%C3%A9", "/a%20b/%C3%A9"),
        ("/.well-known/x", "/.well-known/x"),
        ("/a.b/c..d/...", "/a.b/c..d/..."),
        ("/!$&'()*+,;=:@", "/!$&'()*+,;=:@"),
        // Dot segments.
        ("/v1/../admin/", "/admin/"),
        ("/v1/./x", "/v1/x"),
        ("/v1/x/..", "/v1/"),
        ("/v1/x/.", "/v1/x/"),
        ("/v1/..", "/"),
        ("/..", "/"),
        ("/.", "/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/b/c/../../d", "/a/d"),
        // Encoded dots are unreserved: decoded, then removed.
        ("/v1/%2e%2e/admin/", "/admin/"),
        ("/v1/%2E%2E/admin", "/admin"),
        ("/v1/.%2e/admin", "/admin"),
        ("/v1/%2e./admin", "/admin"),
        ("/v1/%2e/x", "/v1/x"),
        ("/v1/%2e%2e%2e", "/v1/..."),
        // Repeated slashes.
        ("//", "/"),
        ("//v1", "/v1"),
        ("/v1//x///y", "/v1/x/y"),
        ("/v1/./x//y", "/v1/x/y"),
        ("/v1//../x", "/x"),
        // Unreserved escapes decoded; others uppercased.
        ("/%7Euser", "/~user"),
        ("/%41%62%2D%5f%30", "/Ab-_0"),
        ("/a%2cb", "/a%2Cb"),
        ("/%c3%a9", "/%C3%A9"),
        ("/%25", "/%25"),
        ("/%252e%252e", "/%252e%252e"),
    ];
    for (raw, expected) in cases {
        assert_eq!(normalize(raw, REFUSE).as_deref(), Ok(expected), "{raw:?}");
        assert_eq!(
            normalize(raw, KEEP).as_deref(),
            Ok(expected),
            "{raw:?} (keep)"
        );
    }
}

#[test]
fn borrows_only_when_unchanged() {
    for raw in ["/", "/v1/orders", "/a%20b", "/a%2F", "/.well-known"] {
        let path = NormalizedPath::parse(raw).unwrap();
        assert!(path.is_unchanged(), "{raw:?}");
        assert!(matches!(path.into_cow(), Cow::Borrowed(p) if p == raw));
    }
    for raw in ["/a/./b", "//", "/a%2f", "/%7E", "/a/.."] {
        assert!(
            !NormalizedPath::parse(raw).unwrap().is_unchanged(),
            "{raw:?}"
        );
    }
}

#[test]
fn refusals_name_the_sequence_and_where_it_is() {
    let cases = [
        ("", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
        ("v1/x", PathError::NotAbsolute),
        ("/v1/a%2Fb", PathError::EncodedSlash { at: 5 }),
        ("/v1/a%2fb", PathError::EncodedSlash { at: 5 }),
        ("/%2F", PathError::EncodedSlash { at: 1 }),
        ("/v1/a%5Cb", PathError::EncodedBackslash { at: 5 }),
        ("/v1/a%5cb", PathError::EncodedBackslash { at: 5 }),
        ("/v1/a\\b", PathError::Backslash { at: 5 }),
        ("/v1\\..\\admin", PathError::Backslash { at: 3 }),
        ("/a%zz", PathError::BadEscape { at: 2 }),
        ("/a%2", PathError::BadEscape { at: 2 }),
        ("/a%", PathError::BadEscape { at: 2 }),
        ("/a%g0", PathError::BadEscape { at: 2 }),
        ("/a%\u{e9}", PathError::BadEscape { at: 2 }),
        ("/a%00", PathError::EncodedControl { at: 2, byte: 0 }),
        ("/a%0d%0a", PathError::EncodedControl { at: 2, byte: 0x0D }),
        ("/a%7f", PathError::EncodedControl { at: 2, byte: 0x7F }),
        ("/a\0b", PathError::Control { at: 2, byte: 0 }),
        ("/a\tb", PathError::Control { at: 2, byte: b'\t' }),
        ("/a\u{7f}", PathError::Control { at: 2, byte: 0x7F }),
        ("/a b", PathError::MustBeEncoded { at: 2, found: ' ' }),
        ("/a#b", PathError::MustBeEncoded { at: 2, found: '#' }),
        ("/a?b", PathError::MustBeEncoded { at: 2, found: '?' }),
        (
            "/caf\u{e9}",
            PathError::MustBeEncoded {
                at: 4,
                found: '\u{e9}',
            },
        ),
    ];
    for (raw, expected) in cases {
        assert_eq!(normalize(raw, REFUSE), Err(expected), "{raw:?}");
        if !expected.is_escaped_separator() {
            assert_eq!(normalize(raw, KEEP), Err(expected), "{raw:?} (keep)");
        }
    }
    assert_eq!(
        PathError::EncodedSlash { at: 5 }.to_string(),
        "encoded slash %2F at byte 5"
    );
    assert_eq!(
        PathError::EncodedControl { at: 2, byte: 0 }.to_string(),
        "encoded control byte %00 at byte 2"
    );
    assert_eq!(
        PathError::MustBeEncoded { at: 2, found: ' ' }.to_string(),
        "character ' ' at byte 2 must be percent-encoded"
    );
    assert_eq!(
        PathError::Control { at: 1, byte: 0 }.reason(),
        "control_byte"
    );
}

#[test]
fn syntax_errors_come_before_escaped_separators() {
    // Both modes agree on everything but the escaped separator itself.
    assert_eq!(
        normalize("/a%2F%zz", REFUSE),
        Err(PathError::BadEscape { at: 5 })
    );
    // The first escaped separator is the one reported.
    assert_eq!(
        normalize("/a%5c/%2F", REFUSE),
        Err(PathError::EncodedBackslash { at: 2 })
    );
}

#[test]
fn kept_escaped_slashes_are_not_separators() {
    let cases = [
        ("/v1/a%2Fb", "/v1/a%2Fb"),
        ("/v1/a%2fb", "/v1/a%2Fb"),
        ("/v1/a%5cb", "/v1/a%5Cb"),
        ("/v1/..%2f..%2fadmin", "/v1/..%2F..%2Fadmin"),
        ("/v1/%2e%2e%2fadmin", "/v1/..%2Fadmin"),
        ("/v1/a%2Fb/../c", "/v1/c"),
        ("/%2F/..", "/"),
    ];
    for (raw, expected) in cases {
        assert_eq!(normalize(raw, KEEP).as_deref(), Ok(expected), "{raw:?}");
        assert!(normalize(raw, REFUSE).unwrap_err().is_escaped_separator());
    }
}

#[test]
fn allow_applies_the_route_setting_after_matching() {
    let path = NormalizedPath::parse("/v1/./a%2fb").unwrap();
    assert_eq!(path.as_str(), "/v1/a%2Fb");
    assert_eq!(path.to_string(), "/v1/a%2Fb");
    assert_eq!(
        path.escaped_separator(),
        Some(PathError::EncodedSlash { at: 7 })
    );
    assert_eq!(path.allow(EscapedSlashes::Keep), Ok(()));
    assert_eq!(
        path.allow(EscapedSlashes::Refuse),
        Err(PathError::EncodedSlash { at: 7 })
    );
    let plain = NormalizedPath::parse("/v1/x").unwrap();
    assert_eq!(plain.escaped_separator(), None);
    assert_eq!(plain.allow(EscapedSlashes::Refuse), Ok(()));
}

#[test]
fn split_query_keeps_the_query_verbatim() {
    assert_eq!(split_query("/a"), ("/a", None));
    assert_eq!(split_query("/a?"), ("/a", Some("")));
    assert_eq!(
        split_query("/a/../b?x=%2e%2e&y=/../"),
        ("/a/../b", Some("x=%2e%2e&y=/../"))
    );
    assert_eq!(split_query("/a?b?c"), ("/a", Some("b?c")));
}

#[test]
fn escaped_slashes_setting_parses_and_displays() {
    assert_eq!(EscapedSlashes::default(), EscapedSlashes::Refuse);
    assert_eq!("keep".parse(), Ok(EscapedSlashes::Keep));
    assert_eq!("refuse".parse(), Ok(EscapedSlashes::Refuse));
    assert_eq!(EscapedSlashes::Keep.to_string(), "keep");
    let err = "Keep".parse::<EscapedSlashes>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"escaped_slashes "Keep": expected "refuse" or "keep""#
    );
}
