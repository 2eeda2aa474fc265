//! Route operations.

use mtls_identity::TenantId;
use mtls_route_spec::RouteSpec;
use postgres::GenericClient;

use crate::error::db;
use crate::paging::{page_clause, refs};
use crate::rows::{ROUTE_COLUMNS, col, query_all, query_one, route, scalar};
use crate::store::WriteTx;
use crate::tenants;
use mtls_registry::backend::{
    RowCursor, check_new_route, page_limit, route_add_details, route_remove_details, row_page,
};
use mtls_registry::{Actor, Page, PageCursor, RegistryError, RouteId, RouteRecord};

/// Routes of one tenant (creation order) or of all (tenant, then creation order).
pub(crate) fn list(
    client: &mut impl GenericClient,
    tenant: Option<&TenantId>,
) -> Result<Vec<RouteRecord>, RegistryError> {
    query_all(
        client,
        "list routes",
        &format!(
            "SELECT {ROUTE_COLUMNS} FROM routes WHERE $1::TEXT IS NULL OR tenant = $1
             ORDER BY tenant, created_at, rowid"
        ),
        &[&tenant.map(TenantId::as_str)],
        route,
    )
}

/// One page of routes (of one tenant, or all) in tenant, then creation order.
pub(crate) fn page(
    client: &mut impl GenericClient,
    tenant: Option<&TenantId>,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<RouteRecord>, RegistryError> {
    let limit = page_limit(limit);
    let after = after
        .map(|c| match tenant {
            Some(t) => RowCursor::parse(c, "routes", Some(t)),
            None => RowCursor::parse_any_tenant(c, "routes"),
        })
        .transpose()?;
    let (clause, params) = page_clause("created_at", tenant, after.as_ref(), true, limit);
    let rows = client
        .query(
            &format!("SELECT {ROUTE_COLUMNS}, rowid FROM routes{clause}"),
            &refs(&params),
        )
        .map_err(db("list a page of routes"))?;
    let rows = rows
        .iter()
        .map(|row| {
            let route = route(row)?;
            let cursor = RowCursor {
                tenant: Some(route.tenant.clone()),
                at: route.created_at.unix_timestamp(),
                rowid: col(row, 4)?,
            };
            Ok((route, cursor))
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    row_page(rows, limit, "routes.tenant")
}

/// Who is adding a route: an admin (no route policy) or the tenant itself (its policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddedBy {
    /// An admin: not bound by the tenant's route policy.
    Admin,
    /// The tenant itself (self-service): its route policy is checked in the transaction.
    Tenant,
}

pub(crate) fn add(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    tenant: &TenantId,
    spec: &RouteSpec,
    added_by: AddedBy,
) -> Result<RouteRecord, RegistryError> {
    let record = tenants::get(&mut w.tx, tenant)?;
    let existing = list(&mut w.tx, Some(tenant))?;
    let self_service = added_by == AddedBy::Tenant;
    let spec_json = check_new_route(&record, spec, &existing, self_service)?;
    // 64 random bits: a collision is astronomically unlikely, but cheap to rule out.
    let id = loop {
        let id = RouteId::random();
        let taken: bool = scalar(
            &mut w.tx,
            "check a new route id",
            "SELECT EXISTS (SELECT 1 FROM routes WHERE id = $1)",
            &[&id.as_str()],
        )?;
        if !taken {
            break id;
        }
    };
    w.tx.execute(
        "INSERT INTO routes (id, tenant, spec, created_at) VALUES ($1, $2, $3, $4)",
        &[
            &id.as_str(),
            &tenant.as_str(),
            &spec_json,
            &w.now.unix_timestamp(),
        ],
    )
    .map_err(db("insert a route"))?;
    let details = route_add_details(&id, spec, &spec_json, self_service);
    w.audit(actor, "route.add", Some(tenant), details)?;
    Ok(RouteRecord {
        id,
        tenant: tenant.clone(),
        spec: spec.clone().into(),
        created_at: w.now,
    })
}

pub(crate) fn remove(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &RouteId,
) -> Result<RouteRecord, RegistryError> {
    let route = query_one(
        &mut w.tx,
        "read a route",
        &format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE id = $1"),
        &[&id.as_str()],
        route,
    )?
    .ok_or_else(|| RegistryError::UnknownRoute { id: id.clone() })?;
    w.tx.execute("DELETE FROM routes WHERE id = $1", &[&id.as_str()])
        .map_err(db("delete a route"))?;
    w.audit(
        actor,
        "route.remove",
        Some(&route.tenant),
        route_remove_details(&route),
    )?;
    Ok(route)
}
