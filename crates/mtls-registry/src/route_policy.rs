//! What a tenant may add to its own routes through self-service (the control-plane API).
//!
//! Admins are not bound by a route policy; a tenant adding its own route is. The policy is
//! checked inside the same transaction as the insert
//! ([`Store::add_tenant_route`](crate::Store::add_tenant_route)), so concurrent additions
//! cannot overshoot `max_routes`.

use std::net::IpAddr;

use mtls_route_spec::{HostPattern, PortRange, RouteSpec};
use serde::{Deserialize, Serialize};

/// The default [`RoutePolicy::max_routes`].
pub const DEFAULT_MAX_ROUTES: u32 = 100;
/// The default [`RoutePolicy::max_upstreams_per_route`].
pub const DEFAULT_MAX_UPSTREAMS_PER_ROUTE: u32 = 8;

/// The bounds an admin sets on the routes a tenant may add itself.
///
/// The defaults: at most 100 routes of at most 8 upstreams each, any public host on any
/// port, never a private, loopback or otherwise non-public destination, no proxy-held
/// client identity, no local CA file and no source address other than the tenant's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutePolicy {
    /// How many routes the tenant may have in all (counting routes an admin added).
    pub max_routes: u32,
    /// How many upstreams (or CONNECT patterns) one route may list.
    pub max_upstreams_per_route: u32,
    /// Upstream hosts (and CONNECT destinations) the tenant may name: exact names or IP
    /// literals, or `*.suffix` wildcards. Empty: any host.
    pub allowed_upstream_hosts: Vec<HostPattern>,
    /// Upstream ports the tenant may name. Empty: any port.
    pub allowed_upstream_ports: Vec<PortRange>,
    /// Whether the tenant's routes may set `allow_private` (reach loopback, private,
    /// link-local and other non-public addresses). Only an admin can set this.
    pub allow_private: bool,
    /// Names of the proxy's client identities the tenant's routes may present to their
    /// upstreams (`upstream_tls.identity`). Empty: none.
    pub allowed_identities: Vec<String>,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self {
            max_routes: DEFAULT_MAX_ROUTES,
            max_upstreams_per_route: DEFAULT_MAX_UPSTREAMS_PER_ROUTE,
            allowed_upstream_hosts: Vec::new(),
            allowed_upstream_ports: Vec::new(),
            allow_private: false,
            allowed_identities: Vec::new(),
        }
    }
}

/// A route the tenant's [`RoutePolicy`] does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route breaks the tenant's route policy rule {rule}: {message}")]
pub struct PolicyViolation {
    /// The rule broken: the name of the [`RoutePolicy`] field (`max_routes`,
    /// `max_upstreams_per_route`, `allowed_upstream_hosts`, `allowed_upstream_ports`,
    /// `allow_private`, `allowed_identities`) or, for a field only an admin may set,
    /// `egress_bind` / `upstream_tls.ca_file`.
    pub rule: &'static str,
    /// What in the route broke it, naming the value.
    pub message: String,
}

// === impl RoutePolicy ===

impl RoutePolicy {
    /// Checks that `spec` may be added by the tenant itself, which already has
    /// `existing_routes` routes and is assigned the egress address `tenant_egress`.
    ///
    /// Refuses: one route too many; too many upstreams; an upstream host or port outside the
    /// allowed lists (for CONNECT routes, every pattern's host and its whole port range);
    /// `allow_private` unless the policy allows it; an `upstream_tls.identity` not listed;
    /// any `upstream_tls.ca_file` (a path on the proxy host); an `egress_bind` other than
    /// the tenant's own egress address.
    ///
    /// ```
    /// use mtls_registry::RoutePolicy;
    /// use mtls_route_spec::RouteSpec;
    ///
    /// let policy = RoutePolicy {
    ///     allowed_upstream_hosts: vec!["*.example.com".parse()?],
    ///     allowed_upstream_ports: vec!["443".parse()?],
    ///     ..RoutePolicy::default()
    /// };
    /// let ok: RouteSpec = serde_json::from_str(
    ///     r#"{"kind":"connect","allow":["*.api.example.com:443"]}"#,
    /// )?;
    /// assert!(policy.check(&ok, 0, None).is_ok());
    ///
    /// let too_wide: RouteSpec =
    ///     serde_json::from_str(r#"{"kind":"connect","allow":["*.com:443"]}"#)?;
    /// let refused = policy.check(&too_wide, 0, None).unwrap_err();
    /// assert_eq!(refused.rule, "allowed_upstream_hosts");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(
        &self,
        spec: &RouteSpec,
        existing_routes: usize,
        tenant_egress: Option<IpAddr>,
    ) -> Result<(), PolicyViolation> {
        crate::route_policy_check::check(self, spec, existing_routes, tenant_egress)
    }
}
