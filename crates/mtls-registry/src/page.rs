//! Keyset paging for the registry's long listings (tenants, one tenant's routes and
//! certificates, the audit log).
//!
//! A page is read with an indexed range scan that starts right after the previous page's
//! last row — never with `OFFSET`, which re-reads every skipped row — so the millionth page
//! costs what the first does, and rows added or removed between two reads neither shift
//! nor repeat the rows already listed.

use std::fmt;
use std::str::FromStr;

use mtls_identity::TenantId;

use crate::RegistryError;

/// The most items one page holds; a larger `limit` is read as this many.
pub const MAX_PAGE_LIMIT: usize = 10_000;

/// The longest cursor, in bytes.
const MAX_CURSOR_LEN: usize = 128;

/// One page of a listing: its items, in the listing's order, and where the next page
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the listing's order; at most the `limit` asked for.
    pub items: Vec<T>,
    /// Pass as `after` to read the next page. `None`: this is the last page (nothing
    /// followed its last item when it was read).
    pub next: Option<PageCursor>,
}

// === impl Page ===

impl<T> Page<T> {
    /// Builds the page from up to `limit + 1` rows read in order: the extra row, if any,
    /// only says that more follow, and the cursor is `cursor` of the last kept item.
    pub fn from_rows(
        mut rows: Vec<T>,
        limit: usize,
        cursor: impl FnOnce(&T) -> PageCursor,
    ) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(cursor) } else { None };
        Self { items: rows, next }
    }

    /// True when no page follows this one.
    pub fn is_last(&self) -> bool {
        self.next.is_none()
    }

    /// The same page with every item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// A position in one listing, opaque to callers: hand back what a [`Page::next`] held. Its
/// text (1 to 128 bytes of `A-Z a-z 0-9 . _ : -`) is safe in a URL query and a shell.
///
/// What it encodes is the backend's business (the SQLite registry: the tenant id for
/// tenants, the audit `seq`, the creation time and row of a route or certificate); a
/// backend refuses a cursor it did not hand out for that listing with
/// [`InvalidCursor`](crate::RegistryError::InvalidCursor).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageCursor(String);

/// Why a string is not a [`PageCursor`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The string is empty.
    #[error("a cursor cannot be empty")]
    Empty,
    /// The string is longer than 128 bytes.
    #[error("a cursor is at most {MAX_CURSOR_LEN} bytes, this one has {len}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `A-Z a-z 0-9 . _ : -`.
    #[error("a cursor holds only A-Z, a-z, 0-9, '.', '_', ':' and '-', not {found:?}")]
    BadCharacter {
        /// The first such character.
        found: char,
    },
}

// === impl PageCursor ===

impl PageCursor {
    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PageCursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(CursorError::Empty);
        }
        if s.len() > MAX_CURSOR_LEN {
            return Err(CursorError::TooLong { len: s.len() });
        }
        if let Some(found) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(CursorError::BadCharacter { found });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `limit` within 1 ..= [`MAX_PAGE_LIMIT`].
pub fn clamp(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_LIMIT)
}

/// The tenant id a tenants-listing cursor names.
pub fn tenant_cursor(cursor: &PageCursor) -> Result<TenantId, RegistryError> {
    cursor
        .as_str()
        .parse()
        .map_err(|_| RegistryError::InvalidCursor {
            listing: "tenants",
            cursor: cursor.clone(),
            reason: "it is not a tenant id",
        })
}

/// The cursor after `id` in the tenants listing.
pub fn tenant_cursor_of(id: &TenantId) -> PageCursor {
    PageCursor(id.as_str().to_owned())
}

/// The `seq` an audit-listing cursor names.
pub fn seq_cursor(cursor: &PageCursor) -> Result<u64, RegistryError> {
    cursor
        .as_str()
        .parse()
        .map_err(|_| RegistryError::InvalidCursor {
            listing: "audit events",
            cursor: cursor.clone(),
            reason: "it is not an event seq (a decimal number)",
        })
}

/// The cursor after event `seq` in the audit listing.
pub fn seq_cursor_of(seq: u64) -> PageCursor {
    PageCursor(seq.to_string())
}

/// The page after the item whose `key` is `after`, for [`Store`](crate::Store)'s default
/// methods (which list everything first): the cursor is the last item's key.
pub(crate) fn after_key<T>(
    items: Vec<T>,
    after: Option<&PageCursor>,
    limit: usize,
    listing: &'static str,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, RegistryError> {
    let start = match after {
        None => 0,
        Some(cursor) => {
            items
                .iter()
                .position(|item| key(item) == cursor.as_str())
                .ok_or_else(|| RegistryError::InvalidCursor {
                    listing,
                    cursor: cursor.clone(),
                    reason: "no item of this listing has it (it may have been removed)",
                })?
                + 1
        }
    };
    let limit = clamp(limit);
    let rows = items.into_iter().skip(start).take(limit + 1).collect();
    Ok(Page::from_rows(rows, limit, |item| PageCursor(key(item))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_hold_only_url_and_shell_safe_text() {
        assert_eq!("acme".parse::<PageCursor>().unwrap().as_str(), "acme");
        assert_eq!(
            "acme.1793620800.42"
                .parse::<PageCursor>()
                .unwrap()
                .to_string(),
            "acme.1793620800.42"
        );
        assert_eq!("".parse::<PageCursor>(), Err(CursorError::Empty));
        assert_eq!(
            "a b".parse::<PageCursor>(),
            Err(CursorError::BadCharacter { found: ' ' })
        );
        assert_eq!(
            "x".repeat(129).parse::<PageCursor>(),
            Err(CursorError::TooLong { len: 129 })
        );
    }

    #[test]
    fn a_page_keeps_limit_rows_and_points_after_the_last_only_when_more_follow() {
        let cursor = |n: &u32| n.to_string().parse().unwrap();
        let page = Page::from_rows(vec![1, 2, 3], 2, cursor);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next.as_ref().map(PageCursor::as_str), Some("2"));
        let last = Page::from_rows(vec![1, 2], 2, cursor);
        assert_eq!(last.items, vec![1, 2]);
        assert!(last.is_last());
        assert!(Page::from_rows(Vec::<u32>::new(), 2, cursor).is_last());
    }
}
