//! A tenant's self-service route (untrusted JSON) against a route policy (JSON too): the
//! check never panics, and whatever it accepts keeps the policy's promises: no private
//! destinations unless allowed, within max_routes and max_upstreams_per_route, no local CA
//! file, no source address but the tenant's own. Input: the policy, a newline, the route.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use mtls_registry::RoutePolicy;
use mtls_route_spec::RouteSpec;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let (policy, spec) = (&data[..split], &data[split + 1..]);
    let Ok(policy) = serde_json::from_slice::<RoutePolicy>(policy) else {
        return;
    };
    let Ok(spec) = serde_json::from_slice::<RouteSpec>(spec) else {
        return;
    };
    let egress: Option<IpAddr> = Some([127, 0, 0, 2].into());
    for existing in [0usize, 1, 99, 100] {
        if policy.check(&spec, existing, egress).is_err() {
            continue;
        }
        assert!(existing < policy.max_routes as usize, "accepted one route too many");
        let (allow_private, bind, upstreams, ca_file) = match &spec {
            RouteSpec::Http(r) => (
                r.allow_private,
                r.egress_bind,
                r.upstreams.len(),
                r.upstream_tls.as_ref().and_then(|t| t.ca_file.as_ref()).is_some(),
            ),
            RouteSpec::Tcp(r) => (r.allow_private, r.egress_bind, r.upstreams.len(), false),
            RouteSpec::Connect(r) => (r.allow_private, r.egress_bind, r.allow.len(), false),
            _ => return,
        };
        assert!(!allow_private || policy.allow_private, "private allowed without the policy");
        assert!(bind.is_none() || bind == egress, "another tenant's source address accepted");
        assert!(upstreams <= policy.max_upstreams_per_route as usize, "too many upstreams");
        assert!(!ca_file, "a local CA file accepted for self-service");
        // Fewer existing routes can never turn an acceptance into a refusal.
        assert!(policy.check(&spec, 0, egress).is_ok(), "not monotonic in existing routes");
    }
});
