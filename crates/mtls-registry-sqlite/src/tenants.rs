//! Tenant operations.

use mtls_identity::TenantId;

use rusqlite::{Connection, params};

use crate::paging::fetch;
use crate::rows::{RawTenant, TENANT_COLUMNS, query_all, query_one};
use mtls_registry::backend::{page_limit, tenant_cursor, tenant_cursor_of};

use mtls_registry::{Page, PageCursor, RegistryError, TenantRecord};

/// Inserts a new, active tenant: id, display name, limits, creation time (also the update
/// time). Shared by `create` and the bulk load.
pub(crate) const INSERT_TENANT: &str =
    "INSERT INTO tenants (id, display_name, status, max_connections, requests_per_second,
                          created_at, updated_at)
     VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?5)";

/// One tenant, or `UnknownTenant`.
pub(crate) fn get(conn: &Connection, id: &TenantId) -> Result<TenantRecord, RegistryError> {
    query_one(
        conn,
        "read a tenant",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
        [id.as_str()],
        RawTenant::from_row,
        RawTenant::into_record,
    )?
    .ok_or_else(|| RegistryError::UnknownTenant { id: id.clone() })
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<TenantRecord>, RegistryError> {
    query_all(
        conn,
        "list tenants",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
        [],
        RawTenant::from_row,
        RawTenant::into_record,
    )
}

/// The SQL of a page of tenants: `?1` the id to start after (when `after`), then the
/// number of rows.
pub(crate) fn page_sql(after: bool) -> String {
    if after {
        format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2")
    } else {
        format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id LIMIT ?1")
    }
}

/// One page of tenants by id, after the tenant id `after` names.
pub(crate) fn page(
    conn: &Connection,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<TenantRecord>, RegistryError> {
    let limit = page_limit(limit);
    let rows = match after.map(tenant_cursor).transpose()? {
        Some(after) => query_all(
            conn,
            "list a page of tenants",
            &page_sql(true),
            params![after.as_str(), fetch(limit)],
            RawTenant::from_row,
            RawTenant::into_record,
        )?,
        None => query_all(
            conn,
            "list a page of tenants",
            &page_sql(false),
            [fetch(limit)],
            RawTenant::from_row,
            RawTenant::into_record,
        )?,
    };
    Ok(Page::from_rows(rows, limit, |t| tenant_cursor_of(&t.id)))
}
