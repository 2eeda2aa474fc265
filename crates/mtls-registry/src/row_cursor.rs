//! Keyset-paging cursors shared by the SQL backends: a position in a listing ordered by
//! `(time, row number)`, optionally of one tenant, as `TENANT.TIME.ROW` or `TIME.ROW`.
//! Tenant ids hold no `.`, so the parts split unambiguously.

use mtls_identity::TenantId;

use crate::{CursorError, Page, PageCursor, RegistryError};

/// A position in a listing ordered by `(time, rowid)`, optionally of one tenant (see the
/// module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowCursor {
    /// The tenant the listing is of; `None` for a listing of every tenant.
    pub tenant: Option<TenantId>,
    /// The last row's time (unix seconds, as stored).
    pub at: i64,
    /// The last row's rowid.
    pub rowid: i64,
}

// === impl RowCursor ===

impl RowCursor {
    /// Reads a cursor of the `listing` of `tenant` (or of every tenant); a cursor of
    /// another listing is refused.
    pub fn parse(
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
    pub fn parse_any_tenant(
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
    pub fn to_cursor(&self, column: &'static str) -> Result<PageCursor, RegistryError> {
        let text = match &self.tenant {
            Some(t) => format!("{t}.{}.{}", self.at, self.rowid),
            None => format!("{}.{}", self.at, self.rowid),
        };
        text.parse()
            .map_err(|e: CursorError| RegistryError::InvalidStoredValue {
                column,
                value: text,
                source: e.into(),
            })
    }
}

/// `limit + 1` as an SQL parameter, for a page of `limit` items (already clamped).
pub fn page_fetch(limit: usize) -> i64 {
    i64::try_from(limit + 1).unwrap_or(i64::MAX)
}

/// The page of up to `limit + 1` rows read in order, each with its cursor: `next` is the
/// last kept row's cursor when the extra row came.
pub fn row_page<T>(
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
