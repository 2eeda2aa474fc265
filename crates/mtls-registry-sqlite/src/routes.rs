//! Route operations.

use mtls_identity::TenantId;
use mtls_route_spec::RouteSpec;
use rusqlite::{Connection, Row, params};
use serde_json::json;

use crate::error::db;
use crate::paging::{RowCursor, page_params, row_page};
use crate::rows::{ROUTE_COLUMNS, RawRoute, query_all, query_one};
use crate::store::WriteTx;
use crate::tenants;
use crate::util::to_unix;
use mtls_registry::backend::page_limit;
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
    // `validate_new`: a route being added is also held to the non-public upstream check,
    // which routes read back are not (they were stored before it existed).
    spec.validate_new()
        .map_err(|source| RegistryError::InvalidRoute {
            tenant: tenant.clone(),
            source,
        })?;
    let existing_routes = list(&w.tx, Some(tenant))?;
    if added_by == AddedBy::Tenant {
        // Inside the write transaction (BEGIN IMMEDIATE): the count cannot change under us,
        // so concurrent additions cannot overshoot `max_routes`.
        record
            .route_policy
            .check(&spec, existing_routes.len(), record.egress_address)
            .map_err(|violation| RegistryError::PolicyViolation {
                tenant: tenant.clone(),
                violation,
            })?;
    }
    // Only this tenant's routes: tenants never conflict with (or learn about) each other.
    for existing in existing_routes {
        if spec.conflicts_with(&existing.spec) {
            return Err(RegistryError::RouteConflict {
                tenant: tenant.clone(),
                existing: existing.id,
            });
        }
    }
    let spec_json = serde_json::to_string(&spec).map_err(|source| RegistryError::Encode {
        what: "route spec",
        source,
    })?;
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
    let mut details = json!({
        "route": id.as_str(),
        "kind": spec.kind().as_str(),
        "summary": spec.summary(),
        "spec": serde_json::from_str::<serde_json::Value>(&spec_json).unwrap_or_default(),
    });
    if added_by == AddedBy::Tenant {
        details["self_service"] = json!(true);
    }
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
        json!({
            "route": id.as_str(),
            "kind": route.spec.kind().as_str(),
            "summary": route.spec.summary(),
        }),
    )?;
    Ok(route)
}
