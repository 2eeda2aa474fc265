//! A snapshot of one tenant (what `tenantctl explain` decides on), read with the same
//! indexed per-tenant reads a delta uses instead of every table.

use mtls_identity::{Serial, TenantId, TrustDomain};
use mtls_registry::{RegistryError, Snapshot, SnapshotBuilder};
use rusqlite::Connection;

use crate::changes::tenant_state;
use crate::error::db;
use crate::rows::{parse, query_one};
use crate::snapshot::{CERT_STATE_COLUMNS, RawCertState};

/// The meta row, the tenant's row, routes and certificates, and the certificate `serial`
/// (one primary-key read) when it is another tenant's. The caller runs this inside one
/// read transaction.
pub(crate) fn build(
    conn: &Connection,
    tenant: &TenantId,
    serial: Option<&Serial>,
) -> Result<Snapshot, RegistryError> {
    let (version, trust_domain): (i64, String) = conn
        .query_row(
            "SELECT version, trust_domain FROM meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db("read the registry version"))?;
    let trust_domain: TrustDomain = parse("meta.trust_domain", trust_domain)?;
    let mut snapshot = SnapshotBuilder::new(u64::try_from(version).unwrap_or(0), trust_domain);

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
