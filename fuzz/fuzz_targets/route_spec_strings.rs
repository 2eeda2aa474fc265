//! Every `FromStr` type of mtls-route-spec on arbitrary UTF-8: no panics, and whatever parses
//! displays in a canonical form that parses back to the same value.
#![no_main]

use std::fmt::Display;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use mtls_route_spec::{
    ConnectPattern, HeaderSpec, HostPattern, HostPort, PathPrefix, PortRange, RouteKind,
    UpstreamUrl,
};

fn check<T>(text: &str)
where
    T: FromStr + Display + PartialEq + std::fmt::Debug,
    T::Err: Display,
{
    if let Ok(value) = text.parse::<T>() {
        let canonical = value.to_string();
        match canonical.parse::<T>() {
            Ok(again) => {
                assert_eq!(again, value, "{text:?} -> {canonical:?} changed the value");
                assert_eq!(again.to_string(), canonical, "canonical form of {text:?} is unstable");
            }
            Err(e) => panic!("{text:?} parsed, but its canonical form {canonical:?} did not: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check::<HostPattern>(text);
    check::<HostPort>(text);
    check::<PathPrefix>(text);
    check::<UpstreamUrl>(text);
    check::<HeaderSpec>(text);
    check::<PortRange>(text);
    check::<ConnectPattern>(text);
    check::<RouteKind>(text);
    // The matchers must not panic on arbitrary input either.
    if let Ok(pattern) = "*.example.com".parse::<HostPattern>() {
        let _ = pattern.matches(text);
    }
    let _ = PathPrefix::root().matches(text);
    if let Ok(prefix) = "/api".parse::<PathPrefix>() {
        let _ = prefix.matches(text);
    }
});
