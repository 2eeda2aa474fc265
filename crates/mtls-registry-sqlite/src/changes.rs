//! The change log: every audit event that bumped the registry version carries that version
//! (schema 3), written in the change's own transaction, so "what changed since V" is one
//! range read on the `audit_events_by_version` index.

use rusqlite::{Connection, Row};

use crate::error::{db, stored};
use crate::rows::{
    ROUTE_COLUMNS, RawRoute, RawTenant, TENANT_COLUMNS, event_details, event_tenant, query_all,
    query_one,
};
use crate::snapshot::{CERT_STATE_COLUMNS, RawCertState, snapshot_tenant};
use mtls_identity::TenantId;
use mtls_registry::backend::{changes_after, delta_from};
use mtls_registry::{
    Change, ChangeKind, Changes, Delta, MAX_CHANGES_PER_READ, RegistryError, TenantState,
};

const OPERATION: &str = "list the changes since a version";

/// The changes after `version`; the caller runs this in one read transaction.
pub(crate) fn since(
    conn: &Connection,
    version: u64,
    limit: usize,
) -> Result<Changes, RegistryError> {
    let current = current_version(conn)?;
    // Events written before schema 3 carry no version: a hole, so a gap.
    changes_after(version, current, limit, |limit| {
        query_all(
            conn,
            OPERATION,
            "SELECT version, action, tenant, details FROM audit_events
             WHERE version > ?1 ORDER BY version LIMIT ?2",
            rusqlite::params![
                i64::try_from(version).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            RawChange::from_row,
            RawChange::into_change,
        )
    })
}

/// What brings a view at `version` up to date; the caller runs this in one read
/// transaction, so the tenants' states are exactly those at the delta's version. Three
/// indexed reads per touched tenant (its row, its routes, its certificates).
pub(crate) fn delta_since(conn: &Connection, version: u64) -> Result<Delta, RegistryError> {
    let changes = since(conn, version, MAX_CHANGES_PER_READ)?;
    // More than one read's worth behind (the list stops short of the current version), or
    // changes that cannot be applied tenant by tenant: a gap, rebuild.
    let current = current_version(conn)?;
    delta_from(version, changes, current, |id| tenant_state(conn, id))
}

fn current_version(conn: &Connection) -> Result<u64, RegistryError> {
    let current: i64 = conn
        .prepare_cached("SELECT version FROM meta WHERE id = 1")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .map_err(db(OPERATION))?;
    Ok(u64::try_from(current).unwrap_or(0))
}

/// One tenant's row, routes (creation order, as in a snapshot) and certificates now.
pub(crate) fn tenant_state(conn: &Connection, id: TenantId) -> Result<TenantState, RegistryError> {
    const READ: &str = "read a changed tenant";
    let tenant = query_one(
        conn,
        READ,
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
        [id.as_str()],
        RawTenant::from_row,
        RawTenant::into_record,
    )?
    .map(snapshot_tenant);
    let routes = query_all(
        conn,
        READ,
        &format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant = ?1 ORDER BY created_at, rowid"),
        [id.as_str()],
        RawRoute::from_row,
        RawRoute::into_record,
    )?;
    let certificates = query_all(
        conn,
        READ,
        &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates WHERE tenant = ?1 ORDER BY serial"),
        [id.as_str()],
        RawCertState::from_row,
        RawCertState::into_state,
    )?
    .into_iter()
    .map(|(serial, _, revoked)| (serial, revoked))
    .collect();
    Ok(TenantState {
        id,
        tenant,
        routes,
        certificates,
    })
}

/// One change as stored.
struct RawChange {
    version: i64,
    action: String,
    tenant: Option<String>,
    details: String,
}

impl RawChange {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            version: row.get(0)?,
            action: row.get(1)?,
            tenant: row.get(2)?,
            details: row.get(3)?,
        })
    }

    fn into_change(self) -> Result<Change, RegistryError> {
        Ok(Change {
            version: u64::try_from(self.version)
                .map_err(|e| stored("audit_events.version", self.version.to_string())(e.into()))?,
            kind: ChangeKind::from_action(&self.action),
            tenant: event_tenant(self.tenant)?,
            details: event_details(&self.details)?,
        })
    }
}
