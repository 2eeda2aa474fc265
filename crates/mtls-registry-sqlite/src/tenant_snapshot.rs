//! A snapshot of one tenant (what `tenantctl explain` decides on), read with the same
//! indexed per-tenant reads a delta uses instead of every table.

use mtls_identity::{Serial, TenantId};
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
    let mut snapshot = builder_at_version(conn)?;

    let state = tenant_state(conn, tenant.clone())?;
    if let Some(record) = state.tenant {
        snapshot.tenant(tenant.clone(), record)?;
        for route in state.routes {
            snapshot.route(route)?;
        }
    }
    let mut has_serial = false;
    for (cert, revoked) in state.certificates {
        has_serial |= Some(&cert) == serial;
        snapshot.certificate(cert, tenant.clone(), revoked)?;
    }
    if let Some(serial) = serial.filter(|_| !has_serial)
        && let Some((serial, owner, revoked)) = query_one(
            conn,
            "read a certificate for a tenant's snapshot",
            &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates WHERE serial = ?1"),
            [serial.to_string()],
            RawCertState::from_row,
            RawCertState::into_state,
        )?
    {
        snapshot.certificate(serial, owner, revoked)?;
    }
    Ok(snapshot.build())
}
