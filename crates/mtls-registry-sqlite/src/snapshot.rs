//! Building a [`Snapshot`] with a handful of queries in one read transaction.

use mtls_identity::TrustDomain;
use mtls_registry::{RegistryError, Snapshot, SnapshotBuilder, SnapshotError, SnapshotTenant};
use rusqlite::Connection;

use crate::error::db;
use crate::rows::{ROUTE_COLUMNS, RawRoute, RawTenant, TENANT_COLUMNS, parse, query_all};

/// Reads the meta row, the tenants, the routes and the certificates. The caller runs this
/// inside one read transaction, so `version` matches the data exactly.
pub(crate) fn build(conn: &Connection) -> Result<Snapshot, RegistryError> {
    let (version, trust_domain): (i64, String) = conn
        .query_row(
            "SELECT version, trust_domain FROM meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db("read the registry version"))?;
    let trust_domain: TrustDomain = parse("meta.trust_domain", trust_domain)?;
    let mut snapshot = SnapshotBuilder::new(version.max(0) as u64, trust_domain);

    let tenants = query_all(
        conn,
        "read tenants for a snapshot",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants"),
        [],
        RawTenant::from_row,
        RawTenant::into_record,
    )?;
    for t in tenants {
        let tenant = SnapshotTenant {
            display_name: t.display_name,
            status: t.status,
            limits: t.limits,
            egress_address: t.egress_address,
        };
        snapshot.tenant(t.id, tenant)?;
    }

    let routes = query_all(
        conn,
        "read routes for a snapshot",
        &format!("SELECT {ROUTE_COLUMNS} FROM routes ORDER BY tenant, created_at, rowid"),
        [],
        RawRoute::from_row,
        RawRoute::into_record,
    )?;
    for route in routes {
        match snapshot.route(route) {
            // The foreign key guarantees the tenant exists; a file edited by hand without
            // foreign keys may still hold such a route, which no tenant can reach: skip it.
            Ok(_) | Err(SnapshotError::RouteOfUnknownTenant { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let mut stmt = conn
        .prepare_cached("SELECT serial, tenant, revoked_at IS NOT NULL FROM certificates")
        .map_err(db("read certificates for a snapshot"))?;
    let mut rows = stmt
        .query([])
        .map_err(db("read certificates for a snapshot"))?;
    while let Some(row) = rows
        .next()
        .map_err(db("read certificates for a snapshot"))?
    {
        let serial: String = row.get(0).map_err(db("read certificates for a snapshot"))?;
        let tenant: String = row.get(1).map_err(db("read certificates for a snapshot"))?;
        let revoked: bool = row.get(2).map_err(db("read certificates for a snapshot"))?;
        snapshot.certificate(
            parse("certificates.serial", serial)?,
            parse("certificates.tenant", tenant)?,
            revoked,
        )?;
    }

    Ok(snapshot.build())
}
