//! Snapshots (every tenant, or one), the change log and deltas. The callers run these in
//! one REPEATABLE READ transaction, so what they read is the registry at one version.

use mtls_identity::{Serial, TenantId, TrustDomain};
use mtls_registry::backend::{changes_after, delta_from, snapshot_tenant, tenant_snapshot};
use mtls_registry::{
    Change, ChangeKind, Changes, Delta, MAX_CHANGES_PER_READ, RegistryError, Snapshot,
    SnapshotBuilder, SnapshotError, TenantState,
};
use postgres::{GenericClient, Row};

use crate::error::{db, stored};
use crate::rows::{
    ROUTE_COLUMNS, TENANT_COLUMNS, col, event_details, event_tenant, parse, parsed, query_all,
    query_one, route, tenant,
};

/// The whole registry: the meta row, the tenants, the routes and the certificates.
pub(crate) fn build(client: &mut impl GenericClient) -> Result<Snapshot, RegistryError> {
    let mut snapshot = builder_at_version(client)?;
    for t in query_all(
        client,
        "read tenants for a snapshot",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants"),
        &[],
        tenant,
    )? {
        snapshot.tenant(t.id.clone(), snapshot_tenant(t))?;
    }
    let routes = query_all(
        client,
        "read routes for a snapshot",
        &format!("SELECT {ROUTE_COLUMNS} FROM routes ORDER BY tenant, created_at, rowid"),
        &[],
        route,
    )?;
    for r in routes {
        match snapshot.route(r) {
            // The foreign key rules this out; a route no tenant can reach is skipped.
            Ok(_) | Err(SnapshotError::RouteOfUnknownTenant { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for (serial, tenant, revoked) in query_all(
        client,
        "read certificates for a snapshot",
        &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates"),
        &[],
        cert_state,
    )? {
        snapshot.certificate(serial, tenant, revoked)?;
    }
    Ok(snapshot.build())
}

/// One tenant's snapshot: the meta row, the tenant's row, routes and certificates, and the
/// certificate `serial` when it is another tenant's.
pub(crate) fn build_tenant(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    serial: Option<&Serial>,
) -> Result<Snapshot, RegistryError> {
    let builder = builder_at_version(client)?;
    let state = tenant_state(client, tenant.clone())?;
    tenant_snapshot(builder, state, serial, |serial| {
        query_one(
            client,
            "read a certificate for a tenant's snapshot",
            &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates WHERE serial = $1"),
            &[&serial.to_string()],
            cert_state,
        )
    })
}

/// An empty builder at the registry's version and trust domain.
fn builder_at_version(client: &mut impl GenericClient) -> Result<SnapshotBuilder, RegistryError> {
    let row = client
        .query_one("SELECT version, trust_domain FROM meta WHERE id = 1", &[])
        .map_err(db("read the registry version"))?;
    let version: i64 = col(&row, 0)?;
    let trust_domain: TrustDomain = parsed(&row, 1, "meta.trust_domain")?;
    Ok(SnapshotBuilder::new(version.max(0) as u64, trust_domain))
}

const CERT_STATE_COLUMNS: &str = "serial, tenant, revoked_at IS NOT NULL";

/// What a snapshot keeps of a certificate: serial, tenant, revoked.
fn cert_state(row: &Row) -> Result<(Serial, TenantId, bool), RegistryError> {
    Ok((
        parsed(row, 0, "certificates.serial")?,
        parsed(row, 1, "certificates.tenant")?,
        col(row, 2)?,
    ))
}

/// The registry version.
pub(crate) fn current_version(client: &mut impl GenericClient) -> Result<u64, RegistryError> {
    let row = client
        .query_one("SELECT version FROM meta WHERE id = 1", &[])
        .map_err(db("read the registry version"))?;
    Ok(u64::try_from(col::<i64>(&row, 0)?).unwrap_or(0))
}

/// The changes after `version`, from the audit events that carry the version they produced
/// (a range read on `audit_events_by_version`).
pub(crate) fn changes_since(
    client: &mut impl GenericClient,
    version: u64,
    limit: usize,
) -> Result<Changes, RegistryError> {
    let current = current_version(client)?;
    changes_after(version, current, limit, |limit| {
        query_all(
            client,
            "list the changes since a version",
            "SELECT version, action, tenant, details FROM audit_events
             WHERE version > $1 ORDER BY version LIMIT $2",
            &[
                &i64::try_from(version).unwrap_or(i64::MAX),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
            change,
        )
    })
}

/// What brings a view at `version` up to date: the changes and the current state of every
/// tenant they touched (three indexed reads per tenant).
pub(crate) fn delta_since(
    client: &mut impl GenericClient,
    version: u64,
) -> Result<Delta, RegistryError> {
    let changes = changes_since(client, version, MAX_CHANGES_PER_READ)?;
    // One read transaction: the version read now is the one the changes were read at.
    let current = current_version(client)?;
    delta_from(version, changes, current, |id| tenant_state(client, id))
}

/// One tenant's row, routes (creation order) and certificates now.
fn tenant_state(
    client: &mut impl GenericClient,
    id: TenantId,
) -> Result<TenantState, RegistryError> {
    const READ: &str = "read a changed tenant";
    let tenant = query_one(
        client,
        READ,
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
        &[&id.as_str()],
        tenant,
    )?
    .map(snapshot_tenant);
    let routes = query_all(
        client,
        READ,
        &format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant = $1 ORDER BY created_at, rowid"),
        &[&id.as_str()],
        route,
    )?;
    let certificates = query_all(
        client,
        READ,
        &format!("SELECT {CERT_STATE_COLUMNS} FROM certificates WHERE tenant = $1 ORDER BY serial"),
        &[&id.as_str()],
        cert_state,
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

fn change(row: &Row) -> Result<Change, RegistryError> {
    let version: i64 = col(row, 0)?;
    Ok(Change {
        version: u64::try_from(version)
            .map_err(|e| stored("audit_events.version", version.to_string())(e.into()))?,
        kind: ChangeKind::from_action(col(row, 1)?),
        tenant: event_tenant(col(row, 2)?)?,
        details: event_details(col(row, 3)?)?,
    })
}

/// The trust domain in the meta row.
pub(crate) fn trust_domain(client: &mut impl GenericClient) -> Result<TrustDomain, RegistryError> {
    let row = client
        .query_one("SELECT trust_domain FROM meta WHERE id = 1", &[])
        .map_err(db("read the trust domain"))?;
    parse("meta.trust_domain", col(&row, 0)?)
}
