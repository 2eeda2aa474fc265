//! Keyset paging: the cursors the SQLite registry hands out, and reading a page.
//!
//! Every page is one range read on an index, starting right after the previous page's last
//! row and stopping after `limit + 1` rows (the extra one only says more follow):
//!
//! | listing                   | order                  | index                     | cursor                 |
//! |---------------------------|------------------------|---------------------------|------------------------|
//! | tenants                   | `id`                   | primary key               | `ID`                   |
//! | routes (of one tenant)    | `tenant, created_at, rowid` | `routes_by_tenant`   | `TENANT.CREATED.ROWID` |
//! | one tenant's certificates | `issued_at, rowid`     | `certificates_by_tenant`  | `TENANT.ISSUED.ROWID`  |
//! | every certificate         | `issued_at, rowid`     | none (a scan per page)    | `ISSUED.ROWID`         |
//! | audit events (of one tenant) | `seq`               | primary key (`audit_events_by_tenant`) | `SEQ`     |
//!
//! `rowid` breaks ties between rows of the same second in insertion order, as the unpaged
//! listings do. Tenant ids hold no `.`, so the parts of a cursor split unambiguously.

use mtls_identity::TenantId;
use rusqlite::types::Value;

#[cfg(test)]
use mtls_registry::PageCursor;
pub(crate) use mtls_registry::backend::{RowCursor, page_fetch as fetch, row_page};

/// The parameters of a `(time, rowid)` page query, in the order its SQL numbers them: the
/// tenant when the listing is of one (`of`), then the position to start after (led by the
/// cursor's tenant when a listing of every tenant is in tenant order, `tenant_ordered`),
/// then the number of rows to fetch.
pub(crate) fn page_params(
    of: Option<&TenantId>,
    after: Option<&RowCursor>,
    tenant_ordered: bool,
    limit: usize,
) -> rusqlite::ParamsFromIter<Vec<Value>> {
    let text = |t: &TenantId| Value::Text(t.as_str().to_owned());
    let mut values = Vec::with_capacity(5);
    values.extend(of.map(text));
    if let Some(after) = after {
        if of.is_none() && tenant_ordered {
            values.push(after.tenant.as_ref().map_or(Value::Null, text));
        }
        values.extend([Value::Integer(after.at), Value::Integer(after.rowid)]);
    }
    values.push(Value::Integer(fetch(limit)));
    rusqlite::params_from_iter(values)
}

#[cfg(test)]
mod tests;
