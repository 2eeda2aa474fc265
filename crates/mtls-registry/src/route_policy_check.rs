//! The body of [`RoutePolicy::check`](crate::RoutePolicy::check): one function per rule,
//! each pure, each naming the offending value and what the policy allows.

use std::net::IpAddr;

use mtls_route_spec::{
    ConnectRoute, HostPattern, HttpRoute, PortRange, RouteSpec, TcpRoute, UpstreamTls,
};

use crate::{PolicyViolation, RoutePolicy};

pub(crate) fn check(
    policy: &RoutePolicy,
    spec: &RouteSpec,
    existing_routes: usize,
    tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    check_route_count(policy, existing_routes)?;
    match spec {
        RouteSpec::Http(route) => check_http(policy, route, tenant_egress),
        RouteSpec::Tcp(route) => check_tcp(policy, route, tenant_egress),
        RouteSpec::Connect(route) => check_connect(policy, route, tenant_egress),
        // A kind added to mtls-route-spec later is closed to self-service until its rules
        // are written here.
        other => Err(violation(
            "kind",
            format!(
                "{} routes cannot be added through self-service",
                other.kind().as_str()
            ),
        )),
    }
}

fn violation(rule: &'static str, message: String) -> PolicyViolation {
    PolicyViolation { rule, message }
}

/// The count rule, then every upstream's host, then every upstream's port (so a refusal
/// names the first rule broken, hosts before ports).
fn check_upstreams<'a>(
    policy: &RoutePolicy,
    upstreams: impl ExactSizeIterator<Item = (&'a str, Option<IpAddr>, u16)> + Clone,
) -> Result<(), PolicyViolation> {
    check_upstream_count(policy, upstreams.len())?;
    for (host, ip, _) in upstreams.clone() {
        check_host(policy, host, ip)?;
    }
    for (_, _, port) in upstreams {
        check_port(policy, port)?;
    }
    Ok(())
}

fn check_http(
    policy: &RoutePolicy,
    route: &HttpRoute,
    tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    check_upstreams(
        policy,
        route.upstreams.iter().map(|u| (u.host(), u.ip(), u.port())),
    )?;
    check_allow_private(policy, route.allow_private)?;
    if let Some(tls) = &route.upstream_tls {
        check_upstream_tls(policy, tls)?;
    }
    check_egress_bind(route.egress_bind, tenant_egress)
}

fn check_tcp(
    policy: &RoutePolicy,
    route: &TcpRoute,
    tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    check_upstreams(
        policy,
        route.upstreams.iter().map(|u| (u.host(), u.ip(), u.port())),
    )?;
    check_allow_private(policy, route.allow_private)?;
    check_egress_bind(route.egress_bind, tenant_egress)
}

fn check_connect(
    policy: &RoutePolicy,
    route: &ConnectRoute,
    tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    check_upstream_count(policy, route.allow.len())?;
    for pattern in &route.allow {
        check_host_pattern(policy, &pattern.host)?;
    }
    for pattern in &route.allow {
        check_port_range(policy, pattern.ports)?;
    }
    check_allow_private(policy, route.allow_private)?;
    check_egress_bind(route.egress_bind, tenant_egress)
}

/// `max_routes`: the new route must not take the tenant past the limit.
fn check_route_count(policy: &RoutePolicy, existing_routes: usize) -> Result<(), PolicyViolation> {
    let max = policy.max_routes as usize;
    if existing_routes.saturating_add(1) > max {
        return Err(violation(
            "max_routes",
            format!(
                "the tenant already has {existing_routes} route(s); the policy allows at most {max}"
            ),
        ));
    }
    Ok(())
}

/// `max_upstreams_per_route`: upstreams of an HTTP or TCP route, patterns of a CONNECT route.
fn check_upstream_count(policy: &RoutePolicy, count: usize) -> Result<(), PolicyViolation> {
    let max = policy.max_upstreams_per_route as usize;
    if count > max {
        return Err(violation(
            "max_upstreams_per_route",
            format!("the route lists {count} upstream(s); the policy allows at most {max}"),
        ));
    }
    Ok(())
}

fn allowed_hosts_text(policy: &RoutePolicy) -> String {
    join(
        policy
            .allowed_upstream_hosts
            .iter()
            .map(ToString::to_string),
    )
}

fn allowed_ports_text(policy: &RoutePolicy) -> String {
    join(
        policy
            .allowed_upstream_ports
            .iter()
            .map(ToString::to_string),
    )
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Whether a concrete upstream host (a DNS name, or an IP literal when `ip` is set) is
/// claimed by one of `allowed`. IP literals compare as addresses and only against IP
/// patterns, so `10.0.0.1` is never claimed by a DNS wildcard such as `*.0.0.1`.
pub(crate) fn host_allowed(allowed: &[HostPattern], host: &str, ip: Option<IpAddr>) -> bool {
    match ip {
        Some(ip) => allowed.iter().any(|p| p.ip() == Some(ip)),
        None => allowed.iter().any(|p| p.ip().is_none() && p.matches(host)),
    }
}

/// Whether every host a CONNECT pattern claims is claimed by one of `allowed`: an exact
/// host or IP as for [`host_allowed`]; a wildcard `*.s` only under an allowed wildcard
/// `*.t` where `s` is `t` or ends with `.t` (an exact allowed name never covers a wildcard).
pub(crate) fn pattern_allowed(allowed: &[HostPattern], pattern: &HostPattern) -> bool {
    match pattern.wildcard_suffix() {
        None => host_allowed(allowed, pattern.as_str(), pattern.ip()),
        Some(suffix) => allowed.iter().any(|p| {
            p.wildcard_suffix().is_some_and(|allowed_suffix| {
                suffix == allowed_suffix
                    || suffix
                        .strip_suffix(allowed_suffix)
                        .is_some_and(|left| left.ends_with('.'))
            })
        }),
    }
}

/// `allowed_upstream_hosts` for an HTTP upstream URL's host or a TCP upstream's host.
fn check_host(policy: &RoutePolicy, host: &str, ip: Option<IpAddr>) -> Result<(), PolicyViolation> {
    let allowed = &policy.allowed_upstream_hosts;
    if allowed.is_empty() || host_allowed(allowed, host, ip) {
        return Ok(());
    }
    Err(violation(
        "allowed_upstream_hosts",
        format!(
            "upstream host {host} is not in the allowed hosts ({})",
            allowed_hosts_text(policy)
        ),
    ))
}

/// `allowed_upstream_hosts` for a CONNECT pattern's host.
fn check_host_pattern(policy: &RoutePolicy, pattern: &HostPattern) -> Result<(), PolicyViolation> {
    let allowed = &policy.allowed_upstream_hosts;
    if allowed.is_empty() || pattern_allowed(allowed, pattern) {
        return Ok(());
    }
    Err(violation(
        "allowed_upstream_hosts",
        format!(
            "CONNECT destination {pattern} is not covered by the allowed hosts ({})",
            allowed_hosts_text(policy)
        ),
    ))
}

/// `allowed_upstream_ports` for one upstream port.
fn check_port(policy: &RoutePolicy, port: u16) -> Result<(), PolicyViolation> {
    let allowed = &policy.allowed_upstream_ports;
    if allowed.is_empty() || allowed.iter().any(|r| r.contains(port)) {
        return Ok(());
    }
    Err(violation(
        "allowed_upstream_ports",
        format!(
            "upstream port {port} is not in the allowed ports ({})",
            allowed_ports_text(policy)
        ),
    ))
}

/// Whether the whole of `range` lies inside one of `allowed`.
pub(crate) fn range_allowed(allowed: &[PortRange], range: PortRange) -> bool {
    allowed
        .iter()
        .any(|r| r.first <= range.first && range.last <= r.last)
}

/// `allowed_upstream_ports` for a CONNECT pattern's port range.
fn check_port_range(policy: &RoutePolicy, range: PortRange) -> Result<(), PolicyViolation> {
    let allowed = &policy.allowed_upstream_ports;
    if allowed.is_empty() || range_allowed(allowed, range) {
        return Ok(());
    }
    Err(violation(
        "allowed_upstream_ports",
        format!(
            "CONNECT port range {range} does not lie inside one allowed port range ({})",
            allowed_ports_text(policy)
        ),
    ))
}

/// `allow_private`: only a policy that allows it lets a tenant reach non-public addresses.
fn check_allow_private(policy: &RoutePolicy, allow_private: bool) -> Result<(), PolicyViolation> {
    if allow_private && !policy.allow_private {
        return Err(violation(
            "allow_private",
            "the route sets allow_private = true; the policy does not allow private, \
             loopback or other non-public destinations"
                .to_owned(),
        ));
    }
    Ok(())
}

/// `upstream_tls`: no local CA file ever; a client identity only if the policy lists it.
fn check_upstream_tls(policy: &RoutePolicy, tls: &UpstreamTls) -> Result<(), PolicyViolation> {
    if let Some(ca_file) = &tls.ca_file {
        return Err(violation(
            "upstream_tls.ca_file",
            format!(
                "upstream_tls.ca_file {} names a file on the proxy host; only an admin can set it",
                ca_file.display()
            ),
        ));
    }
    if let Some(identity) = &tls.identity
        && !policy.allowed_identities.iter().any(|i| i == identity)
    {
        let allowed = if policy.allowed_identities.is_empty() {
            "the policy allows none".to_owned()
        } else {
            format!("allowed: {}", policy.allowed_identities.join(", "))
        };
        return Err(violation(
            "allowed_identities",
            format!("upstream_tls.identity {identity:?} is not allowed ({allowed})"),
        ));
    }
    Ok(())
}

/// `egress_bind`: only the tenant's own egress address (which routes use anyway).
fn check_egress_bind(
    egress_bind: Option<IpAddr>,
    tenant_egress: Option<IpAddr>,
) -> Result<(), PolicyViolation> {
    match egress_bind {
        None => Ok(()),
        Some(bind) if Some(bind) == tenant_egress => Ok(()),
        Some(bind) => Err(violation(
            "egress_bind",
            match tenant_egress {
                Some(own) => format!(
                    "egress_bind {bind} is not the tenant's egress address {own}; only an admin can choose another"
                ),
                None => format!(
                    "egress_bind {bind} is set but the tenant has no egress address; only an admin can set one"
                ),
            },
        )),
    }
}

#[cfg(test)]
mod tests;
