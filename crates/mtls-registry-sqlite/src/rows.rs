//! Rows as SQLite returns them, and their conversion into domain records.
//!
//! Reading a row is split in two: the `Raw*` structs take the columns as SQLite types
//! (a `rusqlite` error at worst), then `into_record` parses them into domain types (an
//! [`InvalidStoredValue`](RegistryError::InvalidStoredValue) naming the column at worst).

use std::str::FromStr;
use std::sync::Arc;

use rusqlite::{Connection, Params, Row};

use crate::error::{db, stored};
use crate::util::from_unix;
use mtls_registry::{
    AdminCertificateRecord, AuditEvent, CertificateRecord, RegistryError, RouteRecord,
    TenantLimits, TenantRecord, TokenRecord,
};
use mtls_route_spec::RouteSpec;

/// Parses a stored text column.
pub(crate) fn parse<T>(column: &'static str, text: String) -> Result<T, RegistryError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    parse_text(column, &text)
}

/// [`parse`] of text borrowed from the row (copied only into an error).
pub(crate) fn parse_text<T>(column: &'static str, text: &str) -> Result<T, RegistryError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse::<T>()
        .map_err(|e| stored(column, text)(e.into()))
}

/// A stored route spec (`routes.spec`), validated as it is read. Read by value and moved
/// into its `Arc` once: serde's `Arc` reads a `Box` and copies it into a second allocation,
/// a cost paid a million times at start-up with 100,000 tenants.
pub(crate) fn parse_spec(text: &str) -> Result<Arc<RouteSpec>, RegistryError> {
    serde_json::from_str::<RouteSpec>(text)
        .map(Arc::new)
        .map_err(|e| stored("routes.spec", text)(e.into()))
}

/// Column `index` of `row` as text borrowed from SQLite, without a copy.
pub(crate) fn text_column<'r>(
    row: &'r Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<&'r str, RegistryError> {
    let value = row.get_ref(index).map_err(db("read a column"))?;
    value
        .as_str()
        .map_err(|e| stored(column, format!("{:?}", value.data_type()))(e.into()))
}

/// Runs a query and converts every row.
pub(crate) fn query_all<R, T>(
    conn: &Connection,
    operation: &'static str,
    sql: &str,
    params: impl Params,
    raw: fn(&Row<'_>) -> rusqlite::Result<R>,
    convert: fn(R) -> Result<T, RegistryError>,
) -> Result<Vec<T>, RegistryError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db(operation))?;
    let rows = stmt.query_map(params, raw).map_err(db(operation))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(convert(row.map_err(db(operation))?)?);
    }
    Ok(out)
}

/// Runs a query expected to return at most one row.
pub(crate) fn query_one<R, T>(
    conn: &Connection,
    operation: &'static str,
    sql: &str,
    params: impl Params,
    raw: fn(&Row<'_>) -> rusqlite::Result<R>,
    convert: fn(R) -> Result<T, RegistryError>,
) -> Result<Option<T>, RegistryError> {
    Ok(query_all(conn, operation, sql, params, raw, convert)?
        .into_iter()
        .next())
}

pub(crate) const TENANT_COLUMNS: &str = "id, display_name, status, max_connections, \
     requests_per_second, created_at, updated_at, route_policy, egress_address";

pub(crate) struct RawTenant {
    id: String,
    display_name: String,
    status: String,
    max_connections: Option<u32>,
    requests_per_second: Option<u32>,
    created_at: i64,
    updated_at: i64,
    route_policy: String,
    egress_address: Option<String>,
}

// === impl RawTenant ===

impl RawTenant {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            display_name: row.get(1)?,
            status: row.get(2)?,
            max_connections: row.get(3)?,
            requests_per_second: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
            route_policy: row.get(7)?,
            egress_address: row.get(8)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<TenantRecord, RegistryError> {
        Ok(TenantRecord {
            id: parse("tenants.id", self.id)?,
            display_name: self.display_name,
            status: parse("tenants.status", self.status)?,
            limits: TenantLimits {
                max_connections: self.max_connections,
                requests_per_second: self.requests_per_second,
            },
            route_policy: serde_json::from_str(&self.route_policy)
                .map_err(|e| stored("tenants.route_policy", self.route_policy.clone())(e.into()))?,
            egress_address: self
                .egress_address
                .map(|a| parse("tenants.egress_address", a))
                .transpose()?,
            created_at: from_unix("tenants.created_at", self.created_at)?,
            updated_at: from_unix("tenants.updated_at", self.updated_at)?,
        })
    }
}

pub(crate) const CERT_COLUMNS: &str = "serial, tenant, fingerprint, kind, not_before, not_after, \
     issued_at, revoked_at, revocation_reason, lineage, renewed_from, recovered";

pub(crate) struct RawCert {
    serial: String,
    tenant: String,
    fingerprint: String,
    kind: String,
    not_before: i64,
    not_after: i64,
    issued_at: i64,
    revoked_at: Option<i64>,
    revocation_reason: Option<String>,
    lineage: Option<String>,
    renewed_from: Option<String>,
    recovered: bool,
}

// === impl RawCert ===

impl RawCert {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            serial: row.get(0)?,
            tenant: row.get(1)?,
            fingerprint: row.get(2)?,
            kind: row.get(3)?,
            not_before: row.get(4)?,
            not_after: row.get(5)?,
            issued_at: row.get(6)?,
            revoked_at: row.get(7)?,
            revocation_reason: row.get(8)?,
            lineage: row.get(9)?,
            renewed_from: row.get(10)?,
            recovered: row.get(11)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<CertificateRecord, RegistryError> {
        // Rows written before schema version 2 have no lineage: they were first issues.
        let lineage = self.lineage.unwrap_or_else(|| self.serial.clone());
        Ok(CertificateRecord {
            serial: parse("certificates.serial", self.serial)?,
            tenant: parse("certificates.tenant", self.tenant)?,
            fingerprint: parse("certificates.fingerprint", self.fingerprint)?,
            kind: parse("certificates.kind", self.kind)?,
            not_before: from_unix("certificates.not_before", self.not_before)?,
            not_after: from_unix("certificates.not_after", self.not_after)?,
            issued_at: from_unix("certificates.issued_at", self.issued_at)?,
            revoked_at: self
                .revoked_at
                .map(|t| from_unix("certificates.revoked_at", t))
                .transpose()?,
            revocation_reason: self
                .revocation_reason
                .map(|r| parse("certificates.revocation_reason", r))
                .transpose()?,
            lineage: parse("certificates.lineage", lineage)?,
            renewed_from: self
                .renewed_from
                .map(|s| parse("certificates.renewed_from", s))
                .transpose()?,
            recovered: self.recovered,
        })
    }
}

pub(crate) const ADMIN_CERT_COLUMNS: &str =
    "serial, admin, fingerprint, not_before, not_after, issued_at, revoked_at, revocation_reason";

pub(crate) struct RawAdminCert {
    serial: String,
    admin: String,
    fingerprint: String,
    not_before: i64,
    not_after: i64,
    issued_at: i64,
    revoked_at: Option<i64>,
    revocation_reason: Option<String>,
}

// === impl RawAdminCert ===

impl RawAdminCert {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            serial: row.get(0)?,
            admin: row.get(1)?,
            fingerprint: row.get(2)?,
            not_before: row.get(3)?,
            not_after: row.get(4)?,
            issued_at: row.get(5)?,
            revoked_at: row.get(6)?,
            revocation_reason: row.get(7)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<AdminCertificateRecord, RegistryError> {
        Ok(AdminCertificateRecord {
            serial: parse("admin_certificates.serial", self.serial)?,
            admin: parse("admin_certificates.admin", self.admin)?,
            fingerprint: parse("admin_certificates.fingerprint", self.fingerprint)?,
            not_before: from_unix("admin_certificates.not_before", self.not_before)?,
            not_after: from_unix("admin_certificates.not_after", self.not_after)?,
            issued_at: from_unix("admin_certificates.issued_at", self.issued_at)?,
            revoked_at: self
                .revoked_at
                .map(|t| from_unix("admin_certificates.revoked_at", t))
                .transpose()?,
            revocation_reason: self
                .revocation_reason
                .map(|r| parse("admin_certificates.revocation_reason", r))
                .transpose()?,
        })
    }
}

pub(crate) const ROUTE_COLUMNS: &str = "id, tenant, spec, created_at";

pub(crate) struct RawRoute {
    id: String,
    tenant: String,
    spec: String,
    created_at: i64,
}

// === impl RawRoute ===

impl RawRoute {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            tenant: row.get(1)?,
            spec: row.get(2)?,
            created_at: row.get(3)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<RouteRecord, RegistryError> {
        let spec = parse_spec(&self.spec)?;
        Ok(RouteRecord {
            id: parse("routes.id", self.id)?,
            tenant: parse("routes.tenant", self.tenant)?,
            spec,
            created_at: from_unix("routes.created_at", self.created_at)?,
        })
    }
}

pub(crate) const TOKEN_COLUMNS: &str = "id, tenant, created_at, expires_at, used_at";

pub(crate) struct RawToken {
    id: String,
    tenant: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

// === impl RawToken ===

impl RawToken {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            tenant: row.get(1)?,
            created_at: row.get(2)?,
            expires_at: row.get(3)?,
            used_at: row.get(4)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<TokenRecord, RegistryError> {
        Ok(TokenRecord {
            id: self.id,
            tenant: parse("tokens.tenant", self.tenant)?,
            created_at: from_unix("tokens.created_at", self.created_at)?,
            expires_at: from_unix("tokens.expires_at", self.expires_at)?,
            used_at: self
                .used_at
                .map(|t| from_unix("tokens.used_at", t))
                .transpose()?,
        })
    }
}

pub(crate) const EVENT_COLUMNS: &str = "seq, at, actor, action, tenant, details, prev_hash, hash";

pub(crate) struct RawEvent {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    tenant: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

// === impl RawEvent ===

impl RawEvent {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            at: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            tenant: row.get(4)?,
            details: row.get(5)?,
            prev_hash: row.get(6)?,
            hash: row.get(7)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<AuditEvent, RegistryError> {
        let details = event_details(&self.details)?;
        Ok(AuditEvent {
            seq: u64::try_from(self.seq)
                .map_err(|e| stored("audit_events.seq", self.seq.to_string())(e.into()))?,
            at: from_unix("audit_events.at", self.at)?,
            actor: self.actor,
            action: self.action,
            tenant: event_tenant(self.tenant)?,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// An audit event's `details` column: canonical JSON.
pub(crate) fn event_details(text: &str) -> Result<serde_json::Value, RegistryError> {
    serde_json::from_str(text).map_err(|e| stored("audit_events.details", text)(e.into()))
}

/// An audit event's `tenant` column: NULL or empty for none.
pub(crate) fn event_tenant(
    text: Option<String>,
) -> Result<Option<mtls_identity::TenantId>, RegistryError> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse("audit_events.tenant", t))
        .transpose()
}
