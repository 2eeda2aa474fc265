//! Building a [`Snapshot`] with a handful of queries in one read transaction.

use mtls_identity::{Serial, TenantId, TrustDomain};
use mtls_registry::{
    RegistryError, RouteRecord, Snapshot, SnapshotBuilder, SnapshotError, SnapshotTenant,
    TenantRecord,
};
use rusqlite::{Connection, Row};

use crate::error::db;
use crate::rows::{
    ROUTE_COLUMNS, RawTenant, TENANT_COLUMNS, parse, parse_spec, parse_text, query_all, text_column,
};
use crate::util::from_unix;

/// Reads the meta row, the tenants, the routes and the certificates. The caller runs this
/// inside one read transaction, so `version` matches the data exactly.
pub(crate) fn build(conn: &Connection) -> Result<Snapshot, RegistryError> {
    let mut snapshot = builder_at_version(conn)?;

    let tenants = query_all(
        conn,
        "read tenants for a snapshot",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants"),
        [],
        RawTenant::from_row,
        RawTenant::into_record,
    )?;
    for t in tenants {
        let id = t.id.clone();
        snapshot.tenant(id, snapshot_tenant(t))?;
    }

    add_routes(conn, &mut snapshot)?;

    for (serial, tenant, revoked) in query_all(
        conn,
        "read certificates for a snapshot",
        &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates"),
        [],
        RawCertState::from_row,
        RawCertState::into_state,
    )? {
        snapshot.certificate(serial, tenant, revoked)?;
    }

    Ok(snapshot.build())
}

/// Adds every route to `snapshot`, in tenant order. The hot loop of a start-up (a million
/// rows at 100,000 tenants): each row's text is borrowed from SQLite rather than copied, the
/// spec parsed straight from it, and a row of the same tenant as the row before reuses that
/// tenant's id instead of parsing its own.
fn add_routes(conn: &Connection, snapshot: &mut SnapshotBuilder) -> Result<(), RegistryError> {
    const OPERATION: &str = "read routes for a snapshot";
    let sql = format!("SELECT {ROUTE_COLUMNS} FROM routes ORDER BY tenant, created_at, rowid");
    let mut stmt = conn.prepare(&sql).map_err(db(OPERATION))?;
    let mut rows = stmt.query([]).map_err(db(OPERATION))?;
    let mut last_tenant: Option<TenantId> = None;
    while let Some(row) = rows.next().map_err(db(OPERATION))? {
        let tenant_text = text_column(row, 1, "routes.tenant")?;
        let tenant = match &last_tenant {
            Some(tenant) if tenant.as_str() == tenant_text => tenant.clone(),
            _ => last_tenant
                .insert(parse_text("routes.tenant", tenant_text)?)
                .clone(),
        };
        let spec = parse_spec(text_column(row, 2, "routes.spec")?)?;
        let route = RouteRecord {
            id: parse_text("routes.id", text_column(row, 0, "routes.id")?)?,
            tenant,
            spec,
            created_at: from_unix("routes.created_at", row.get(3).map_err(db(OPERATION))?)?,
        };
        match snapshot.route(route) {
            // The foreign key guarantees the tenant exists; a file edited by hand without
            // foreign keys may still hold such a route, which no tenant can reach: skip it.
            Ok(_) | Err(SnapshotError::RouteOfUnknownTenant { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// An empty snapshot builder at the registry's version and trust domain (the meta row).
pub(crate) fn builder_at_version(conn: &Connection) -> Result<SnapshotBuilder, RegistryError> {
    let (version, trust_domain): (i64, String) = conn
        .query_row(
            "SELECT version, trust_domain FROM meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db("read the registry version"))?;
    let trust_domain: TrustDomain = parse("meta.trust_domain", trust_domain)?;
    Ok(SnapshotBuilder::new(version.max(0) as u64, trust_domain))
}

/// A tenant record as the data plane sees it.
pub(crate) fn snapshot_tenant(t: TenantRecord) -> SnapshotTenant {
    SnapshotTenant {
        display_name: t.display_name,
        status: t.status,
        limits: t.limits,
        egress_address: t.egress_address,
    }
}

/// The columns of [`RawCertState`].
pub(crate) const CERT_STATE_COLUMNS: &str = "serial, tenant, revoked_at IS NOT NULL";

/// What a snapshot keeps of a certificate row: serial, tenant, revoked.
pub(crate) struct RawCertState(String, String, bool);

impl RawCertState {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self(row.get(0)?, row.get(1)?, row.get(2)?))
    }

    pub(crate) fn into_state(self) -> Result<(Serial, TenantId, bool), RegistryError> {
        Ok((
            parse("certificates.serial", self.0)?,
            parse("certificates.tenant", self.1)?,
            self.2,
        ))
    }
}
