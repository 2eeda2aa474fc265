//! Any JSON that deserialises into a `RouteSpec` is valid and survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_route_spec::RouteSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<RouteSpec>(data) else {
        return;
    };
    if let Err(e) = spec.validate() {
        panic!("deserialised spec fails validate(): {e}");
    }
    let json = serde_json::to_string(&spec).expect("a valid spec serialises");
    let again: RouteSpec = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("serialised spec {json} does not parse back: {e}"));
    assert_eq!(again, spec, "round trip changed the spec: {json}");
    assert_eq!(serde_json::to_string(&again).unwrap(), json);
    assert!(spec.conflicts_with(&spec), "a valid spec conflicts with itself");
    let _ = spec.summary();
});
