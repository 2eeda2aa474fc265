//! Registry records to wire types and back. Sync and pure.

use mtls_control_api as api;
use mtls_registry::{
    AuditEvent, CertificateRecord, RoutePolicy, RouteRecord, TenantLimits, TenantRecord,
};
use mtls_route_spec::{HostPattern, PortRange};

use crate::error::ApiError;

/// A tenant record as the API shows it.
pub(crate) fn tenant(t: &TenantRecord) -> api::Tenant {
    api::Tenant {
        id: t.id.to_string(),
        display_name: t.display_name.clone(),
        status: t.status.as_str().to_owned(),
        limits: limits(&t.limits, &t.route_policy),
        egress_address: t.egress_address,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// The API's limits from the registry's limits and route policy.
pub(crate) fn limits(l: &TenantLimits, p: &RoutePolicy) -> api::Limits {
    api::Limits {
        max_connections: l.max_connections,
        requests_per_second: l.requests_per_second,
        max_routes: p.max_routes,
        max_upstreams_per_route: p.max_upstreams_per_route,
        allowed_upstream_hosts: p
            .allowed_upstream_hosts
            .iter()
            .map(ToString::to_string)
            .collect(),
        allowed_upstream_ports: p
            .allowed_upstream_ports
            .iter()
            .map(ToString::to_string)
            .collect(),
        allow_private: p.allow_private,
        allowed_identities: p.allowed_identities.clone(),
    }
}

/// The registry's limits and route policy from the API's limits; a bad host pattern or
/// port range is 400 naming the field and the value.
pub(crate) fn limits_from_api(l: &api::Limits) -> Result<(TenantLimits, RoutePolicy), ApiError> {
    let hosts = l
        .allowed_upstream_hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.parse::<HostPattern>().map_err(|e| {
                ApiError::invalid_request(format!("limits.allowed_upstream_hosts[{i}] {h:?}: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ports = l
        .allowed_upstream_ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.parse::<PortRange>().map_err(|e| {
                ApiError::invalid_request(format!("limits.allowed_upstream_ports[{i}] {p:?}: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tenant_limits = TenantLimits {
        max_connections: l.max_connections,
        requests_per_second: l.requests_per_second,
    };
    let policy = RoutePolicy {
        max_routes: l.max_routes,
        max_upstreams_per_route: l.max_upstreams_per_route,
        allowed_upstream_hosts: hosts,
        allowed_upstream_ports: ports,
        allow_private: l.allow_private,
        allowed_identities: l.allowed_identities.clone(),
    };
    Ok((tenant_limits, policy))
}

/// A certificate record as the API shows it.
pub(crate) fn certificate(c: &CertificateRecord) -> api::Certificate {
    api::Certificate {
        serial: c.serial.to_string(),
        tenant: c.tenant.to_string(),
        fingerprint: c.fingerprint.to_string(),
        not_before: c.not_before,
        not_after: c.not_after,
        issued_at: c.issued_at,
        revoked_at: c.revoked_at,
        revocation_reason: c.revocation_reason.map(|r| r.as_str().to_owned()),
        lineage: c.lineage.to_string(),
        renewed_from: c.renewed_from.as_ref().map(ToString::to_string),
        recovered: c.recovered,
    }
}

/// A route record as the API shows it.
pub(crate) fn route(r: &RouteRecord) -> Result<api::Route, ApiError> {
    let spec = serde_json::to_value(&r.spec).map_err(|e| {
        tracing::error!(route = %r.id, error = %e, "control API: cannot encode a route spec");
        ApiError::internal("encoding a route")
    })?;
    Ok(api::Route {
        id: r.id.to_string(),
        tenant: r.tenant.to_string(),
        spec,
        created_at: r.created_at,
    })
}

/// An audit event as the API shows it.
pub(crate) fn audit_event(e: &AuditEvent) -> api::AuditEvent {
    api::AuditEvent {
        seq: e.seq,
        at: e.at,
        actor: e.actor.clone(),
        action: e.action.clone(),
        tenant: e.tenant.as_ref().map(ToString::to_string),
        details: e.details.clone(),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}
