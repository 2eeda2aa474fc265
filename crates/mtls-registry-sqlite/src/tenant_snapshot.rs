//! A snapshot of one tenant (what `tenantctl explain` decides on), read with the same
//! indexed per-tenant reads a delta uses instead of every table.

use mtls_identity::{Serial, TenantId};
use mtls_registry::backend::tenant_snapshot;
use mtls_registry::{RegistryError, Snapshot};
use rusqlite::Connection;

use crate::changes::tenant_state;
use crate::rows::query_one;
use crate::snapshot::{CERT_STATE_COLUMNS, RawCertState, builder_at_version};

/// The meta row, the tenant's row, routes and certificates, and the certificate `serial`
/// (one primary-key read) when it is another tenant's. The caller runs this inside one
/// read transaction.
pub(crate) fn build(
    conn: &Connection,
    tenant: &TenantId,
    serial: Option<&Serial>,
) -> Result<Snapshot, RegistryError> {
    let builder = builder_at_version(conn)?;
    let state = tenant_state(conn, tenant.clone())?;
    tenant_snapshot(builder, state, serial, |serial| {
        query_one(
            conn,
            "read a certificate for a tenant's snapshot",
            &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates WHERE serial = ?1"),
            [serial.to_string()],
            RawCertState::from_row,
            RawCertState::into_state,
        )
    })
}
