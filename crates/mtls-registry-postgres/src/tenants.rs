//! Tenant operations.

use mtls_identity::TenantId;
use postgres::GenericClient;

use crate::rows::{TENANT_COLUMNS, query_all, query_one, tenant};
use mtls_registry::backend::{page_fetch, page_limit, tenant_cursor, tenant_cursor_of};
use mtls_registry::{Page, PageCursor, RegistryError, TenantRecord};

/// One tenant, if there is one.
pub(crate) fn find(
    client: &mut impl GenericClient,
    id: &TenantId,
) -> Result<Option<TenantRecord>, RegistryError> {
    query_one(
        client,
        "read a tenant",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
        &[&id.as_str()],
        tenant,
    )
}

/// One tenant, or `UnknownTenant`.
pub(crate) fn get(
    client: &mut impl GenericClient,
    id: &TenantId,
) -> Result<TenantRecord, RegistryError> {
    find(client, id)?.ok_or_else(|| RegistryError::UnknownTenant { id: id.clone() })
}

pub(crate) fn list(client: &mut impl GenericClient) -> Result<Vec<TenantRecord>, RegistryError> {
    query_all(
        client,
        "list tenants",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
        &[],
        tenant,
    )
}

/// One page of tenants by id (a range read on the primary key), after the tenant id
/// `after` names.
pub(crate) fn page(
    client: &mut impl GenericClient,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<TenantRecord>, RegistryError> {
    let limit = page_limit(limit);
    let after = after.map(tenant_cursor).transpose()?;
    let rows = query_all(
        client,
        "list a page of tenants",
        &format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE $1::TEXT IS NULL OR id > $1
             ORDER BY id LIMIT $2"
        ),
        &[&after.as_ref().map(TenantId::as_str), &page_fetch(limit)],
        tenant,
    )?;
    Ok(Page::from_rows(rows, limit, |t| tenant_cursor_of(&t.id)))
}
