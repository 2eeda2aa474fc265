//! Reading rows: typed column access and the conversion of rows into domain records (an
//! [`InvalidStoredValue`](RegistryError::InvalidStoredValue) naming the column when a
//! stored value does not parse).

use std::str::FromStr;

use postgres::types::{FromSql, ToSql};
use postgres::{GenericClient, Row};
use time::OffsetDateTime;

use crate::error::{db, stored};
use mtls_registry::{
    AdminCertificateRecord, AuditEvent, CertificateRecord, RegistryError, RouteRecord,
    TenantLimits, TenantRecord, TokenRecord,
};

/// Statement parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Column `index` of `row`.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> Result<T, RegistryError> {
    row.try_get(index).map_err(db("read a column"))
}

/// Parses a stored text column.
pub(crate) fn parse<T>(column: &'static str, text: &str) -> Result<T, RegistryError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse::<T>()
        .map_err(|e| stored(column, text)(e.into()))
}

/// Column `index` of `row`, text parsed into `T`.
pub(crate) fn parsed<T>(row: &Row, index: usize, column: &'static str) -> Result<T, RegistryError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    parse(column, col::<&str>(row, index)?)
}

/// Column `index` of `row`, nullable text parsed into `T`.
fn parsed_opt<T>(row: &Row, index: usize, column: &'static str) -> Result<Option<T>, RegistryError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    col::<Option<&str>>(row, index)?
        .map(|t| parse(column, t))
        .transpose()
}

/// A stored unix time.
pub(crate) fn time_at(
    row: &Row,
    index: usize,
    column: &'static str,
) -> Result<OffsetDateTime, RegistryError> {
    from_unix(column, col(row, index)?)
}

fn time_opt(
    row: &Row,
    index: usize,
    column: &'static str,
) -> Result<Option<OffsetDateTime>, RegistryError> {
    col::<Option<i64>>(row, index)?
        .map(|t| from_unix(column, t))
        .transpose()
}

/// Reads a stored unix time back.
pub(crate) fn from_unix(column: &'static str, secs: i64) -> Result<OffsetDateTime, RegistryError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| stored(column, secs.to_string())(e.into()))
}

/// A nullable BIGINT limit as the `u32` the registry keeps.
fn limit(row: &Row, index: usize, column: &'static str) -> Result<Option<u32>, RegistryError> {
    col::<Option<i64>>(row, index)?
        .map(|v| u32::try_from(v).map_err(|e| stored(column, v.to_string())(e.into())))
        .transpose()
}

/// A `u32` limit as a BIGINT parameter.
pub(crate) fn limit_param(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

/// Runs a query and converts every row.
pub(crate) fn query_all<T>(
    client: &mut impl GenericClient,
    operation: &'static str,
    sql: &str,
    params: Params<'_>,
    convert: fn(&Row) -> Result<T, RegistryError>,
) -> Result<Vec<T>, RegistryError> {
    let rows = client.query(sql, params).map_err(db(operation))?;
    rows.iter().map(convert).collect()
}

/// Runs a query expected to return at most one row.
pub(crate) fn query_one<T>(
    client: &mut impl GenericClient,
    operation: &'static str,
    sql: &str,
    params: Params<'_>,
    convert: fn(&Row) -> Result<T, RegistryError>,
) -> Result<Option<T>, RegistryError> {
    let row = client.query_opt(sql, params).map_err(db(operation))?;
    row.as_ref().map(convert).transpose()
}

/// The single value of a one-row query (`SELECT EXISTS …`, `SELECT count(*) …`).
pub(crate) fn scalar<T: for<'r> FromSql<'r>>(
    client: &mut impl GenericClient,
    operation: &'static str,
    sql: &str,
    params: Params<'_>,
) -> Result<T, RegistryError> {
    let row = client.query_one(sql, params).map_err(db(operation))?;
    row.try_get(0).map_err(db(operation))
}

pub(crate) const TENANT_COLUMNS: &str = "id, display_name, status, max_connections, \
     requests_per_second, created_at, updated_at, route_policy, egress_address";

pub(crate) fn tenant(row: &Row) -> Result<TenantRecord, RegistryError> {
    let policy: &str = col(row, 7)?;
    Ok(TenantRecord {
        id: parsed(row, 0, "tenants.id")?,
        display_name: col::<String>(row, 1)?,
        status: parsed(row, 2, "tenants.status")?,
        limits: TenantLimits {
            max_connections: limit(row, 3, "tenants.max_connections")?,
            requests_per_second: limit(row, 4, "tenants.requests_per_second")?,
        },
        route_policy: serde_json::from_str(policy)
            .map_err(|e| stored("tenants.route_policy", policy)(e.into()))?,
        egress_address: parsed_opt(row, 8, "tenants.egress_address")?,
        created_at: time_at(row, 5, "tenants.created_at")?,
        updated_at: time_at(row, 6, "tenants.updated_at")?,
    })
}

pub(crate) const CERT_COLUMNS: &str = "serial, tenant, fingerprint, kind, not_before, not_after, \
     issued_at, revoked_at, revocation_reason, lineage, renewed_from, recovered";

pub(crate) fn cert(row: &Row) -> Result<CertificateRecord, RegistryError> {
    Ok(CertificateRecord {
        serial: parsed(row, 0, "certificates.serial")?,
        tenant: parsed(row, 1, "certificates.tenant")?,
        fingerprint: parsed(row, 2, "certificates.fingerprint")?,
        kind: parsed(row, 3, "certificates.kind")?,
        not_before: time_at(row, 4, "certificates.not_before")?,
        not_after: time_at(row, 5, "certificates.not_after")?,
        issued_at: time_at(row, 6, "certificates.issued_at")?,
        revoked_at: time_opt(row, 7, "certificates.revoked_at")?,
        revocation_reason: parsed_opt(row, 8, "certificates.revocation_reason")?,
        lineage: parsed(row, 9, "certificates.lineage")?,
        renewed_from: parsed_opt(row, 10, "certificates.renewed_from")?,
        recovered: col(row, 11)?,
    })
}

pub(crate) const ADMIN_CERT_COLUMNS: &str =
    "serial, admin, fingerprint, not_before, not_after, issued_at, revoked_at, revocation_reason";

pub(crate) fn admin_cert(row: &Row) -> Result<AdminCertificateRecord, RegistryError> {
    Ok(AdminCertificateRecord {
        serial: parsed(row, 0, "admin_certificates.serial")?,
        admin: parsed(row, 1, "admin_certificates.admin")?,
        fingerprint: parsed(row, 2, "admin_certificates.fingerprint")?,
        not_before: time_at(row, 3, "admin_certificates.not_before")?,
        not_after: time_at(row, 4, "admin_certificates.not_after")?,
        issued_at: time_at(row, 5, "admin_certificates.issued_at")?,
        revoked_at: time_opt(row, 6, "admin_certificates.revoked_at")?,
        revocation_reason: parsed_opt(row, 7, "admin_certificates.revocation_reason")?,
    })
}

pub(crate) const ROUTE_COLUMNS: &str = "id, tenant, spec, created_at";

pub(crate) fn route(row: &Row) -> Result<RouteRecord, RegistryError> {
    let spec: &str = col(row, 2)?;
    Ok(RouteRecord {
        id: parsed(row, 0, "routes.id")?,
        tenant: parsed(row, 1, "routes.tenant")?,
        spec: serde_json::from_str(spec).map_err(|e| stored("routes.spec", spec)(e.into()))?,
        created_at: time_at(row, 3, "routes.created_at")?,
    })
}

pub(crate) const TOKEN_COLUMNS: &str = "id, tenant, created_at, expires_at, used_at";

pub(crate) fn token(row: &Row) -> Result<TokenRecord, RegistryError> {
    Ok(TokenRecord {
        id: col::<String>(row, 0)?,
        tenant: parsed(row, 1, "tokens.tenant")?,
        created_at: time_at(row, 2, "tokens.created_at")?,
        expires_at: time_at(row, 3, "tokens.expires_at")?,
        used_at: time_opt(row, 4, "tokens.used_at")?,
    })
}

pub(crate) const EVENT_COLUMNS: &str = "seq, at, actor, action, tenant, details, prev_hash, hash";

pub(crate) fn event(row: &Row) -> Result<AuditEvent, RegistryError> {
    let seq: i64 = col(row, 0)?;
    Ok(AuditEvent {
        seq: u64::try_from(seq)
            .map_err(|e| stored("audit_events.seq", seq.to_string())(e.into()))?,
        at: time_at(row, 1, "audit_events.at")?,
        actor: col::<String>(row, 2)?,
        action: col::<String>(row, 3)?,
        tenant: event_tenant(col(row, 4)?)?,
        details: event_details(col(row, 5)?)?,
        prev_hash: col::<String>(row, 6)?,
        hash: col::<String>(row, 7)?,
    })
}

/// An audit event's `details` column: canonical JSON.
pub(crate) fn event_details(text: &str) -> Result<serde_json::Value, RegistryError> {
    serde_json::from_str(text).map_err(|e| stored("audit_events.details", text)(e.into()))
}

/// An audit event's `tenant` column: NULL or empty for none.
pub(crate) fn event_tenant(
    text: Option<&str>,
) -> Result<Option<mtls_identity::TenantId>, RegistryError> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse("audit_events.tenant", t))
        .transpose()
}
