//! Route operations.

use mtls_identity::TenantId;
use rusqlite::{Connection, Row};

use crate::paging::{RowCursor, page_params, row_page};
use crate::rows::{ROUTE_COLUMNS, RawRoute, query_all};
use crate::util::to_unix;
use mtls_registry::backend::page_limit;
use mtls_registry::{Page, PageCursor, RegistryError, RouteRecord};

/// Inserts a route: id, tenant, spec (JSON), creation time. Shared by `add` and the bulk
/// load.
pub(crate) const INSERT_ROUTE: &str =
    "INSERT INTO routes (id, tenant, spec, created_at) VALUES (?1, ?2, ?3, ?4)";

pub(crate) fn list(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<RouteRecord>, RegistryError> {
    match tenant {
        Some(t) => query_all(
            conn,
            "list routes",
            &format!(
                "SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant = ?1 ORDER BY created_at, rowid"
            ),
            [t.as_str()],
            RawRoute::from_row,
            RawRoute::into_record,
        ),
        None => query_all(
            conn,
            "list routes",
            &format!("SELECT {ROUTE_COLUMNS} FROM routes ORDER BY tenant, created_at, rowid"),
            [],
            RawRoute::from_row,
            RawRoute::into_record,
        ),
    }
}

/// The SQL of a page of routes: `?1` the tenant (when `of_tenant`), then (when `after`)
/// the position to start after (the tenant too, for every tenant's routes: they are in
/// tenant order), then the number of rows.
pub(crate) fn page_sql(of_tenant: bool, after: bool) -> String {
    let select = format!("SELECT {ROUTE_COLUMNS}, rowid FROM routes");
    match (of_tenant, after) {
        (true, true) => format!(
            "{select} WHERE tenant = ?1 AND (created_at, rowid) > (?2, ?3)
             ORDER BY created_at, rowid LIMIT ?4"
        ),
        (true, false) => {
            format!("{select} WHERE tenant = ?1 ORDER BY created_at, rowid LIMIT ?2")
        }
        (false, true) => format!(
            "{select} WHERE (tenant, created_at, rowid) > (?1, ?2, ?3)
             ORDER BY tenant, created_at, rowid LIMIT ?4"
        ),
        (false, false) => format!("{select} ORDER BY tenant, created_at, rowid LIMIT ?1"),
    }
}

/// One page of routes (of one tenant, or all) in tenant, then creation order, after
/// `after`: a range read on `routes_by_tenant` either way.
pub(crate) fn page(
    conn: &Connection,
    tenant: Option<&TenantId>,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<RouteRecord>, RegistryError> {
    const OPERATION: &str = "list a page of routes";
    let limit = page_limit(limit);
    let with_rowid = |row: &Row<'_>| Ok((RawRoute::from_row(row)?, row.get::<_, i64>(4)?));
    let convert = |(raw, rowid): (RawRoute, i64)| {
        let route = raw.into_record()?;
        let cursor = RowCursor {
            tenant: Some(route.tenant.clone()),
            at: to_unix(route.created_at),
            rowid,
        };
        Ok((route, cursor))
    };
    let after = after
        .map(|c| match tenant {
            Some(t) => RowCursor::parse(c, "routes", Some(t)),
            None => RowCursor::parse_any_tenant(c, "routes"),
        })
        .transpose()?;
    let sql = page_sql(tenant.is_some(), after.is_some());
    let params = page_params(tenant, after.as_ref(), true, limit);
    let rows = query_all(conn, OPERATION, &sql, params, with_rowid, convert)?;
    row_page(rows, limit, "routes.tenant")
}
