//! Route operations.

use mtls_identity::TenantId;
use mtls_route_spec::RouteSpec;
use rusqlite::{Connection, Row, params};

use crate::error::db;
use crate::paging::{RowCursor, page_params, row_page};
use crate::rows::{ROUTE_COLUMNS, RawRoute, query_all, query_one};
use crate::store::WriteTx;
use crate::tenants;
use crate::util::to_unix;
use mtls_registry::backend::{
    check_new_route, page_limit, route_add_details, route_remove_details,
};
use mtls_registry::{Actor, Page, PageCursor, RegistryError, RouteId, RouteRecord};

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
    spec: RouteSpec,
    added_by: AddedBy,
) -> Result<RouteRecord, RegistryError> {
    let record = tenants::get(&w.tx, tenant)?;
    let existing = list(&w.tx, Some(tenant))?;
    let self_service = added_by == AddedBy::Tenant;
    // Inside the write transaction (BEGIN IMMEDIATE): the routes cannot change under us, so
    // concurrent additions cannot overshoot `max_routes`.
    let spec_json = check_new_route(&record, &spec, &existing, self_service)?;
    // 64 random bits: a collision is astronomically unlikely, but cheap to rule out.
    let id = loop {
        let id = RouteId::random();
        let taken: bool =
            w.tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM routes WHERE id = ?1)",
                [id.as_str()],
                |r| r.get(0),
            )
            .map_err(db("check a new route id"))?;
        if !taken {
            break id;
        }
    };
    w.tx.execute(
        INSERT_ROUTE,
        params![id.as_str(), tenant.as_str(), spec_json, to_unix(w.now)],
    )
    .map_err(db("insert a route"))?;
    let details = route_add_details(&id, &spec, &spec_json, self_service);
    w.audit(actor, "route.add", Some(tenant), details)?;
    Ok(RouteRecord {
        id,
        tenant: tenant.clone(),
        spec: spec.into(),
        created_at: w.now,
    })
}

pub(crate) fn remove(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &RouteId,
) -> Result<RouteRecord, RegistryError> {
    let route = query_one(
        &w.tx,
        "read a route",
        &format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE id = ?1"),
        [id.as_str()],
        RawRoute::from_row,
        RawRoute::into_record,
    )?
    .ok_or_else(|| RegistryError::UnknownRoute { id: id.clone() })?;
    w.tx.execute("DELETE FROM routes WHERE id = ?1", [id.as_str()])
        .map_err(db("delete a route"))?;
    w.audit(
        actor,
        "route.remove",
        Some(&route.tenant),
        route_remove_details(&route),
    )?;
    Ok(route)
}
