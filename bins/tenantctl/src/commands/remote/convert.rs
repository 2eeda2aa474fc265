//! The API's wire types turned into the registry records the local output functions
//! print, so both modes print the same text and JSON. Sync and pure.

use mtls_control_api as api;
use mtls_registry::{
    AuditEvent, CertificateKind, CertificateRecord, RoutePolicy, RouteRecord, TenantLimits,
    TenantRecord, TokenRecord,
};

use crate::error::CliError;

fn bad(what: &'static str) -> impl Fn(String) -> CliError {
    move |reason| CliError::RemoteData { what, reason }
}

fn parse<T>(what: &'static str, value: &str) -> Result<T, CliError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| bad(what)(format!("{value:?}: {e}")))
}

pub(super) fn tenant(t: api::Tenant) -> Result<TenantRecord, CliError> {
    let (limits, route_policy) = limits_from_api(&t.limits)?;
    Ok(TenantRecord {
        id: parse("a tenant id", &t.id)?,
        display_name: t.display_name,
        status: parse("a tenant status", &t.status)?,
        limits,
        route_policy,
        egress_address: t.egress_address,
        created_at: t.created_at,
        updated_at: t.updated_at,
    })
}

pub(super) fn limits_from_api(l: &api::Limits) -> Result<(TenantLimits, RoutePolicy), CliError> {
    Ok((
        TenantLimits {
            max_connections: l.max_connections,
            requests_per_second: l.requests_per_second,
        },
        RoutePolicy {
            max_routes: l.max_routes,
            max_upstreams_per_route: l.max_upstreams_per_route,
            allowed_upstream_hosts: l
                .allowed_upstream_hosts
                .iter()
                .map(|h| parse("an allowed upstream host", h))
                .collect::<Result<_, _>>()?,
            allowed_upstream_ports: l
                .allowed_upstream_ports
                .iter()
                .map(|p| parse("an allowed upstream port", p))
                .collect::<Result<_, _>>()?,
            allow_private: l.allow_private,
            allowed_identities: l.allowed_identities.clone(),
        },
    ))
}

pub(super) fn limits_to_api(limits: &TenantLimits, policy: &RoutePolicy) -> api::Limits {
    api::Limits {
        max_connections: limits.max_connections,
        requests_per_second: limits.requests_per_second,
        max_routes: policy.max_routes,
        max_upstreams_per_route: policy.max_upstreams_per_route,
        allowed_upstream_hosts: policy
            .allowed_upstream_hosts
            .iter()
            .map(ToString::to_string)
            .collect(),
        allowed_upstream_ports: policy
            .allowed_upstream_ports
            .iter()
            .map(ToString::to_string)
            .collect(),
        allow_private: policy.allow_private,
        allowed_identities: policy.allowed_identities.clone(),
    }
}

pub(super) fn route(r: api::Route) -> Result<RouteRecord, CliError> {
    Ok(RouteRecord {
        id: parse("a route id", &r.id)?,
        tenant: parse("a tenant id", &r.tenant)?,
        spec: serde_json::from_value(r.spec).map_err(|e| bad("a route spec")(e.to_string()))?,
        created_at: r.created_at,
    })
}

pub(super) fn token(t: api::Token) -> Result<TokenRecord, CliError> {
    Ok(TokenRecord {
        id: t.id,
        tenant: parse("a tenant id", &t.tenant)?,
        created_at: t.created_at,
        expires_at: t.expires_at,
        used_at: t.used_at,
    })
}

pub(super) fn certificate(c: api::Certificate) -> Result<CertificateRecord, CliError> {
    Ok(CertificateRecord {
        serial: parse("a serial", &c.serial)?,
        tenant: parse("a tenant id", &c.tenant)?,
        fingerprint: parse("a fingerprint", &c.fingerprint)?,
        kind: CertificateKind::Client,
        not_before: c.not_before,
        not_after: c.not_after,
        issued_at: c.issued_at,
        revoked_at: c.revoked_at,
        revocation_reason: c
            .revocation_reason
            .as_deref()
            .map(|r| parse("a revocation reason", r))
            .transpose()?,
        lineage: parse("a lineage serial", &c.lineage)?,
        renewed_from: c
            .renewed_from
            .as_deref()
            .map(|s| parse("a serial", s))
            .transpose()?,
        recovered: c.recovered,
    })
}

pub(super) fn audit_event(e: api::AuditEvent) -> Result<AuditEvent, CliError> {
    Ok(AuditEvent {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        tenant: e
            .tenant
            .as_deref()
            .map(|t| parse("a tenant id", t))
            .transpose()?,
        details: e.details,
        prev_hash: e.prev_hash,
        hash: e.hash,
    })
}

/// A certificate the server just issued (enrollment), as a record: the facts come from
/// the certificate itself.
pub(super) fn issued(i: &api::CertificateIssued) -> Result<CertificateRecord, CliError> {
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(i.cert.as_bytes())
        .next()
        .ok_or_else(|| bad("a certificate")("no CERTIFICATE block".to_owned()))?
        .map_err(|e| bad("a certificate")(e.to_string()))?;
    let facts =
        mtls_control_client::LeafFacts::from_pem("the issued certificate", i.cert.as_bytes())?;
    Ok(CertificateRecord {
        serial: parse("a serial", &i.serial)?,
        tenant: parse("a tenant id", &i.tenant)?,
        fingerprint: mtls_identity::Fingerprint::of_der(&der),
        kind: CertificateKind::Client,
        not_before: facts.not_before,
        not_after: i.not_after,
        issued_at: time::OffsetDateTime::now_utc(),
        revoked_at: None,
        revocation_reason: None,
        lineage: parse("a lineage serial", &i.lineage)?,
        renewed_from: None,
        recovered: false,
    })
}

use rustls::pki_types::pem::PemObject as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_trip_through_the_wire_type() {
        let api_limits = api::Limits {
            max_connections: Some(5),
            requests_per_second: None,
            max_routes: 3,
            max_upstreams_per_route: 2,
            allowed_upstream_hosts: vec!["*.example.com".into(), "api.test".into()],
            allowed_upstream_ports: vec!["443".into(), "8000-8999".into()],
            allow_private: true,
            allowed_identities: vec!["partner".into()],
        };
        let (limits, policy) = limits_from_api(&api_limits).unwrap();
        assert_eq!(limits.max_connections, Some(5));
        assert_eq!(policy.max_routes, 3);
        assert_eq!(limits_to_api(&limits, &policy), api_limits);
    }

    #[test]
    fn bad_server_data_is_named() {
        let l = api::Limits {
            allowed_upstream_ports: vec!["not-a-port".into()],
            ..api::Limits::default()
        };
        let err = limits_from_api(&l).unwrap_err().to_string();
        assert!(err.contains("allowed upstream port"), "{err}");
        assert!(err.contains("not-a-port"), "{err}");
    }
}
