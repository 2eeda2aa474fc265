use super::*;
use crate::RouteSpec;

fn route(json: &str) -> Result<RouteSpec, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn escaped_slashes_default_to_refuse_and_old_routes_still_read() {
    // A route stored before the field existed.
    let old = route(r#"{"kind":"http","host":"a.test","path_prefix":"/v1","upstreams":["http://10.0.0.5:8080"]}"#)
        .unwrap();
    let RouteSpec::Http(http) = &old else {
        panic!("an http route")
    };
    assert_eq!(http.escaped_slashes, EscapedSlashes::Refuse);
    // The default is left out when written back, so stored JSON does not change.
    let json = serde_json::to_string(&old).unwrap();
    assert!(!json.contains("escaped_slashes"), "{json}");
    assert_eq!(
        HttpRoute::new("a.test".parse().unwrap(), vec![]).escaped_slashes,
        EscapedSlashes::Refuse
    );
}

#[test]
fn keep_round_trips_and_shows_in_the_summary() {
    let spec = route(r#"{"kind":"http","host":"a.test","path_prefix":"/files","upstreams":["http://10.0.0.5:8080"],"escaped_slashes":"keep"}"#)
        .unwrap();
    let json = serde_json::to_string(&spec).unwrap();
    assert!(json.contains(r#""escaped_slashes":"keep""#), "{json}");
    assert_eq!(route(&json).unwrap(), spec);
    assert_eq!(
        spec.summary(),
        "http a.test/files -> http://10.0.0.5:8080 [escaped slashes kept]"
    );
    let err = route(r#"{"kind":"http","host":"a.test","upstreams":["http://10.0.0.5:8080"],"escaped_slashes":"decode"}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `decode`"),
        "{err}"
    );
}

#[test]
fn a_prefix_no_normalised_path_can_match_is_refused() {
    let with_prefix = |prefix: &str, escaped_slashes| {
        let mut r = HttpRoute::new(
            "a.test".parse().unwrap(),
            vec!["http://10.0.0.5:8080".parse().unwrap()],
        );
        r.path_prefix = prefix.parse().unwrap();
        r.escaped_slashes = escaped_slashes;
        r.allow_private = true;
        // Stored routes load whatever their prefix (they just match nothing); adding one is
        // where an unmatchable prefix is refused.
        r.validate().unwrap();
        crate::RouteSpec::from(r).validate_new()
    };
    let err = with_prefix("/a%2fb", EscapedSlashes::Refuse).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"path_prefix "/a%2Fb" never matches a normalised request path: encoded slash %2F at byte 2 (allowed only with escaped_slashes "keep")"#
    );
    assert!(with_prefix("/a%2fb", EscapedSlashes::Keep).is_ok());
    assert!(with_prefix("/a%5Cb", EscapedSlashes::Keep).is_ok());
    let err = with_prefix("/a\\b", EscapedSlashes::Keep).unwrap_err();
    assert_eq!(
        err,
        RouteSpecError::UnmatchablePathPrefix {
            value: "/a\\b".into(),
            problem: mtls_request_path::PathError::Backslash { at: 2 },
        }
    );
    let err = with_prefix("/a%00", EscapedSlashes::Keep).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("encoded control byte %00 at byte 2"),
        "{err}"
    );
    // A stored route with such a prefix still deserialises: a registry never stops loading
    // over it, and the route matches no request.
    assert!(route(r#"{"kind":"http","host":"a.test","path_prefix":"/a%2F","upstreams":["http://10.0.0.5:8080"]}"#).is_ok());
    // Unreserved escapes in a prefix are decoded, so it matches normalised paths.
    let tilde: crate::PathPrefix = "/%7Euser".parse().unwrap();
    assert_eq!(tilde.as_str(), "/~user");
    assert!(with_prefix("/%7Euser", EscapedSlashes::Refuse).is_ok());
}
