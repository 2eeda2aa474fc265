use proptest::prelude::*;

use super::*;

fn header_reason(text: &str) -> Reason {
    match text.parse::<HeaderSpec>() {
        Err(RouteSpecError::Header { value, reason }) => {
            assert_eq!(value, text, "the error names the rejected value");
            reason
        }
        other => panic!("{text:?}: expected a header error, got {other:?}"),
    }
}

#[test]
fn parses_name_and_value() {
    let header: HeaderSpec = "X-Env:  prod ".parse().unwrap();
    assert_eq!((header.name(), header.value()), ("x-env", "prod"));
    assert_eq!(header.to_string(), "x-env: prod");
    let empty: HeaderSpec = "x-empty:".parse().unwrap();
    assert_eq!(empty.value(), "");
    assert_eq!(empty.to_string(), "x-empty:");
    assert_eq!(empty.to_string().parse::<HeaderSpec>().unwrap(), empty);
    let colon: HeaderSpec = "x-time: 12:00".parse().unwrap();
    assert_eq!(colon.value(), "12:00");
    let built = HeaderSpec::try_new("Accept", "text/plain").unwrap();
    assert_eq!(built.to_string(), "accept: text/plain");
}

#[test]
fn rejections_have_exact_reasons() {
    let long_value = format!("x-long: {}", "v".repeat(4097));
    let long_name = format!("{}: v", "n".repeat(129));
    let cases = [
        ("", Reason::Empty),
        (": value", Reason::Empty),
        ("x-env", Reason::MissingColon),
        ("x env: a", Reason::BadChar { found: ' ' }),
        ("x-env : a", Reason::BadChar { found: ' ' }),
        ("x(env): a", Reason::BadChar { found: '(' }),
        ("x-env: a\u{7f}", Reason::BadChar { found: '\u{7f}' }),
        ("x-env: caf\u{e9}", Reason::BadChar { found: '\u{e9}' }),
        ("x-env: a\r\nx-evil: b", Reason::BadChar { found: '\r' }),
        ("Host: evil", Reason::ReservedHeader),
        ("connection: close", Reason::ReservedHeader),
        ("Transfer-Encoding: chunked", Reason::ReservedHeader),
        ("x-forwarded-client-cert: forged", Reason::ReservedHeader),
        ("X-MTLS-Tenant: other", Reason::ReservedHeader),
        ("x-mtls-anything: x", Reason::ReservedHeader),
        (
            long_value.as_str(),
            Reason::TooLong {
                len: 4097,
                max: 4096,
            },
        ),
        (long_name.as_str(), Reason::TooLong { len: 129, max: 128 }),
    ];
    for (text, reason) in cases {
        assert_eq!(header_reason(text), reason, "{text:?}");
    }
    for name in RESERVED_HEADERS {
        assert_eq!(
            header_reason(&format!("{name}: x")),
            Reason::ReservedHeader,
            "{name}"
        );
    }
    let err = HeaderSpec::try_new("x-a", " padded").unwrap_err();
    assert_eq!(err.reason(), Some(Reason::BadChar { found: ' ' }));
    let err = HeaderSpec::try_new("x-a", "tab\t").unwrap_err();
    assert_eq!(err.reason(), Some(Reason::BadChar { found: '\t' }));
}

#[test]
fn serde_is_the_string() {
    let header: HeaderSpec = serde_json::from_str(r#""X-A: b""#).unwrap();
    assert_eq!(serde_json::to_string(&header).unwrap(), r#""x-a: b""#);
    assert!(serde_json::from_str::<HeaderSpec>(r#""host: x""#).is_err());
}

proptest! {
    #[test]
    fn display_round_trips(name in "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}", value in "[ -~]{0,20}") {
        let value = value.trim();
        if let Ok(header) = HeaderSpec::try_new(&name, value) {
            let again: HeaderSpec = header.to_string().parse().unwrap();
            prop_assert_eq!(again, header);
        } else {
            let lower = name.to_ascii_lowercase();
            prop_assert!(RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-mtls-"));
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = text.parse::<HeaderSpec>();
    }
}
