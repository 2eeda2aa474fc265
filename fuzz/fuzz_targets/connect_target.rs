//! The CONNECT target parser (`mtls_egress::connect_target`) on arbitrary request targets,
//! as hyper would hand them over (an `http::Uri` in authority form): no panics; a target
//! that parses displays in a form that parses back to the same target; and the address the
//! dialer would check and connect to for an IP literal (`literal_ip`) is the one the route
//! matcher sees (`HostPort::ip`), judged by the one destination rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_egress::{connect_target, literal_ip};
use mtls_route_spec::{DestinationPolicy, HostPort, non_public};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = text.parse::<http::Uri>() else {
        return;
    };
    let Ok(request) = http::Request::connect(uri).body(()) else {
        return;
    };
    let Ok(target) = connect_target(&request) else {
        return;
    };
    let canonical = target.to_string();
    let again: HostPort = canonical
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} -> {canonical:?} does not parse again: {e}"));
    assert_eq!(again, target, "{text:?} -> {canonical:?} changed the target");
    assert_eq!(again.to_string(), canonical, "canonical form of {text:?} is unstable");

    // The dialer and the matcher agree on what a literal is, and on its verdict.
    let dialed = literal_ip(target.host());
    assert_eq!(dialed, target.ip(), "{text:?}: dialer and matcher disagree");
    if let Some(ip) = dialed {
        let verdict = DestinationPolicy::default().check(ip);
        assert_eq!(verdict.is_err(), non_public(ip).is_some(), "{ip}");
        assert!(DestinationPolicy { allow_private: true }.check(ip).is_ok());
    }
});
