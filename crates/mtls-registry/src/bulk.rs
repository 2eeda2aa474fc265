//! Bulk loads: the input and result types both backends' `bulk_load` share, and the pure
//! checks (no database) they run on every tenant, certificate and route.
//!
//! A backend's `bulk_load` writes exactly the rows and audit events that
//! [`Store::create_tenant`](crate::Store::create_tenant), then
//! [`Store::record_certificate`](crate::Store::record_certificate) for each certificate, then
//! [`Store::add_route`](crate::Store::add_route) for each route would, tenant after tenant;
//! the checks that need no database are here so that both backends refuse the same input
//! with the same errors.

use mtls_identity::TenantId;
use mtls_route_spec::RouteSpec;
use time::OffsetDateTime;

use crate::util::stored_time;
use crate::{
    CertificateRecord, NewCertificate, RegistryError, RouteId, TenantLimits, validate_display_name,
};

/// One tenant of a bulk load: what `create_tenant`, `record_certificate` and `add_route`
/// would be given for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkTenant {
    /// The tenant's id (must not exist yet).
    pub id: TenantId,
    /// Its display name.
    pub display_name: String,
    /// Its limits.
    pub limits: TenantLimits,
    /// Its certificates, recorded in this order (each a first issue, a lineage of its own).
    pub certificates: Vec<NewCertificate>,
    /// Its routes, added in this order (as an admin adds them: no route policy check).
    pub routes: Vec<RouteSpec>,
}

/// What a backend's `bulk_load` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLoaded {
    /// Tenants created.
    pub tenants: u64,
    /// Certificates recorded.
    pub certificates: u64,
    /// Routes added.
    pub routes: u64,
    /// The registry version before the load.
    pub from_version: u64,
    /// The registry version after it (one version per change, as with the normal writes).
    pub to_version: u64,
}

// === impl BulkLoaded ===

impl BulkLoaded {
    /// Nothing loaded yet, at `version`.
    pub fn at(version: u64) -> Self {
        Self {
            tenants: 0,
            certificates: 0,
            routes: 0,
            from_version: version,
            to_version: version,
        }
    }
}

/// The checks of `create_tenant` that need no database: the display name and the limits.
pub fn bulk_check_tenant(display_name: &str, limits: &TenantLimits) -> Result<(), RegistryError> {
    validate_display_name(display_name)?;
    limits.validate()
}

/// Checks one certificate of a bulk-loaded tenant (its validity period; whether the serial
/// is taken is the backend's check) and returns the record `record_certificate` would
/// store for it at `now`: a first issue, its own lineage.
pub fn bulk_certificate(
    tenant: &TenantId,
    new: NewCertificate,
    now: OffsetDateTime,
) -> Result<CertificateRecord, RegistryError> {
    let not_before = stored_time(new.not_before);
    let not_after = stored_time(new.not_after);
    if not_after <= not_before {
        return Err(RegistryError::InvalidCertificate {
            tenant: tenant.clone(),
            serial: new.serial,
            reason: "not_after is not after not_before",
        });
    }
    Ok(CertificateRecord {
        lineage: new.serial.clone(),
        serial: new.serial,
        tenant: tenant.clone(),
        fingerprint: new.fingerprint,
        kind: new.kind,
        not_before,
        not_after,
        issued_at: now,
        revoked_at: None,
        revocation_reason: None,
        renewed_from: None,
        recovered: false,
    })
}

/// Checks one route of a new tenant against the tenant's routes added before it in the
/// load (a new tenant has no others) and returns its stored JSON.
pub fn bulk_route(
    tenant: &TenantId,
    spec: &RouteSpec,
    earlier: &[(RouteId, RouteSpec)],
) -> Result<String, RegistryError> {
    spec.validate_new()
        .map_err(|source| RegistryError::InvalidRoute {
            tenant: tenant.clone(),
            source,
        })?;
    if let Some((existing, _)) = earlier.iter().find(|(_, e)| spec.conflicts_with(e)) {
        return Err(RegistryError::RouteConflict {
            tenant: tenant.clone(),
            existing: existing.clone(),
        });
    }
    serde_json::to_string(spec).map_err(|source| RegistryError::Encode {
        what: "route spec",
        source,
    })
}
