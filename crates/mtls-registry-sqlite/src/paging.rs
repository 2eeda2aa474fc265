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
use mtls_registry::{Page, PageCursor, RegistryError};
use rusqlite::types::Value;

use crate::error::stored;

/// A position in a listing ordered by `(time, rowid)`, optionally of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowCursor {
    /// The tenant the listing is of; `None` for a listing of every tenant.
    pub(crate) tenant: Option<TenantId>,
    /// The last row's time (unix seconds, as stored).
    pub(crate) at: i64,
    /// The last row's rowid.
    pub(crate) rowid: i64,
}

// === impl RowCursor ===

impl RowCursor {
    /// Reads a cursor of the `listing` of `tenant` (or of every tenant); a cursor of
    /// another listing is refused.
    pub(crate) fn parse(
        cursor: &PageCursor,
        listing: &'static str,
        tenant: Option<&TenantId>,
    ) -> Result<Self, RegistryError> {
        let invalid = |reason| RegistryError::InvalidCursor {
            listing,
            cursor: cursor.clone(),
            reason,
        };
        let parts: Vec<&str> = cursor.as_str().split('.').collect();
        let (named, at, rowid) = match (tenant, parts.as_slice()) {
            (Some(_), [t, at, rowid]) => (Some(*t), *at, *rowid),
            (None, [at, rowid]) => (None, *at, *rowid),
            (Some(_), _) => return Err(invalid("expected TENANT.TIME.ROW, as a page's next")),
            (None, _) => return Err(invalid("expected TIME.ROW, as a page's next")),
        };
        let named = named
            .map(|t| {
                t.parse::<TenantId>()
                    .map_err(|_| invalid("its first part is not a tenant id"))
            })
            .transpose()?;
        if named.as_ref() != tenant {
            return Err(invalid("it is a cursor of another tenant's listing"));
        }
        let number = |text: &str| {
            text.parse::<i64>()
                .map_err(|_| invalid("its time and row are not numbers"))
        };
        Ok(Self {
            tenant: named,
            at: number(at)?,
            rowid: number(rowid)?,
        })
    }

    /// Reads a cursor of a listing of every tenant's rows in tenant order (routes): it
    /// names the tenant of its row, any tenant.
    pub(crate) fn parse_any_tenant(
        cursor: &PageCursor,
        listing: &'static str,
    ) -> Result<Self, RegistryError> {
        let tenant = cursor
            .as_str()
            .split('.')
            .next()
            .and_then(|t| t.parse::<TenantId>().ok())
            .ok_or_else(|| RegistryError::InvalidCursor {
                listing,
                cursor: cursor.clone(),
                reason: "expected TENANT.TIME.ROW, as a page's next",
            })?;
        Self::parse(cursor, listing, Some(&tenant))
    }

    /// The cursor's text (`column`: where the tenant id came from, should it not make a
    /// cursor).
    pub(crate) fn to_cursor(&self, column: &'static str) -> Result<PageCursor, RegistryError> {
        let text = match &self.tenant {
            Some(t) => format!("{t}.{}.{}", self.at, self.rowid),
            None => format!("{}.{}", self.at, self.rowid),
        };
        text.parse()
            .map_err(|e: mtls_registry::CursorError| stored(column, text)(e.into()))
    }
}

/// `limit + 1` as an SQL parameter, for a page of `limit` items (already clamped).
pub(crate) fn fetch(limit: usize) -> i64 {
    i64::try_from(limit + 1).unwrap_or(i64::MAX)
}

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

/// The page of up to `limit + 1` rows read in order, each with its cursor: `next` is the
/// last kept row's cursor when the extra row came.
pub(crate) fn row_page<T>(
    mut rows: Vec<(T, RowCursor)>,
    limit: usize,
    column: &'static str,
) -> Result<Page<T>, RegistryError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = match rows.last() {
        Some((_, cursor)) if more => Some(cursor.to_cursor(column)?),
        _ => None,
    };
    Ok(Page {
        items: rows.into_iter().map(|(item, _)| item).collect(),
        next,
    })
}

#[cfg(test)]
mod tests;
