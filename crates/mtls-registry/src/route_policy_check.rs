//! The body of [`RoutePolicy::check`](crate::RoutePolicy::check).

use std::net::IpAddr;

use mtls_route_spec::RouteSpec;

use crate::{PolicyViolation, RoutePolicy};

pub(crate) fn check(
    _policy: &RoutePolicy,
    _spec: &RouteSpec,
    _existing_routes: usize,
    _tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    // TEMPORARY (interface stage): the policy helper replaces this body.
    Ok(())
}
