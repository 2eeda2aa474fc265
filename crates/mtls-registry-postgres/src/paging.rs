//! Keyset paging over `(time, rowid)` listings: the same cursors as the SQLite backend
//! ([`RowCursor`]), each page one range read on an index, `limit + 1` rows (the extra one
//! only says more follow).
//!
//! | listing                   | order                       | index                    |
//! |---------------------------|-----------------------------|--------------------------|
//! | tenants                   | `id`                        | primary key              |
//! | routes (of one tenant)    | `tenant, created_at, rowid` | `routes_by_tenant`       |
//! | one tenant's certificates | `issued_at, rowid`          | `certificates_by_tenant` |
//! | every certificate         | `issued_at, rowid`          | `certificates_by_issue`  |
//! | audit events              | `seq`                       | primary key              |

use mtls_identity::TenantId;
use mtls_registry::backend::{RowCursor, page_fetch};
use postgres::types::ToSql;

/// An owned statement parameter.
pub(crate) type Param = Box<dyn ToSql + Sync>;

/// The `WHERE … ORDER BY … LIMIT` of a `(time, rowid)` page and its parameters: of
/// `tenant` when given, after `after`; `tenant_ordered` listings of every tenant are in
/// tenant order first (routes), so their position starts with the cursor's tenant.
pub(crate) fn page_clause(
    time_column: &str,
    tenant: Option<&TenantId>,
    after: Option<&RowCursor>,
    tenant_ordered: bool,
    limit: usize,
) -> (String, Vec<Param>) {
    let mut params: Vec<Param> = Vec::new();
    let mut conditions = Vec::new();
    let next = |params: &mut Vec<Param>, p: Param| {
        params.push(p);
        format!("${}", params.len())
    };
    if let Some(t) = tenant {
        let n = next(&mut params, Box::new(t.as_str().to_owned()));
        conditions.push(format!("tenant = {n}"));
    }
    let by_tenant = tenant.is_none() && tenant_ordered;
    if let Some(after) = after {
        let mut columns = vec![time_column, "rowid"];
        let mut values = Vec::new();
        if by_tenant {
            columns.insert(0, "tenant");
            let cursor_tenant = after.tenant.as_ref().map(|t| t.as_str().to_owned());
            values.push(next(&mut params, Box::new(cursor_tenant)));
        }
        values.push(next(&mut params, Box::new(after.at)));
        values.push(next(&mut params, Box::new(after.rowid)));
        conditions.push(format!(
            "({}) > ({})",
            columns.join(", "),
            values.join(", ")
        ));
    }
    let mut sql = String::new();
    if !conditions.is_empty() {
        sql = format!(" WHERE {}", conditions.join(" AND "));
    }
    let order = if by_tenant {
        format!("tenant, {time_column}, rowid")
    } else {
        format!("{time_column}, rowid")
    };
    let n = next(&mut params, Box::new(page_fetch(limit)));
    sql.push_str(&format!(" ORDER BY {order} LIMIT {n}"));
    (sql, params)
}

/// Borrowed parameters for a statement.
pub(crate) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}
