//! Route operations.

use mtls_identity::TenantId;
use postgres::GenericClient;

use crate::error::db;
use crate::paging::{page_clause, refs};
use crate::rows::{ROUTE_COLUMNS, col, query_all, route};
use mtls_registry::backend::{RowCursor, page_limit, row_page};
use mtls_registry::{Page, PageCursor, RegistryError, RouteRecord};

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
