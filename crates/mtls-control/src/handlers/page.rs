//! `?limit=N&after=CURSOR`: which page of a long listing (tenants, a tenant's routes and
//! certificates, the audit log). Every listing is a keyset page of the registry: one index
//! range read, whatever the page number.

use mtls_control_api::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use mtls_registry::PageCursor;
use serde::Deserialize;

use crate::error::ApiError;

/// `?limit=N&after=CURSOR`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// At most this many items, 1 to 1000; default 100.
    limit: Option<u32>,
    /// Start after this cursor: the `next` of the previous page (absent: the first page).
    after: Option<String>,
}

// === impl PageQuery ===

impl PageQuery {
    /// The cursor and the limit, checked.
    pub(crate) fn parse(&self) -> Result<(Option<PageCursor>, usize), ApiError> {
        Ok((cursor(self.after.as_deref())?, limit(self.limit)?))
    }
}

/// `limit`, or the default; outside 1 to [`MAX_PAGE_LIMIT`] is 400.
pub(crate) fn limit(limit: Option<u32>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(ApiError::invalid_request(format!(
            "limit {limit} is outside 1 to {MAX_PAGE_LIMIT}"
        )));
    }
    Ok(limit as usize)
}

/// `after`, parsed; one that is no cursor at all is 400 (one of another listing is refused
/// by the registry, also 400).
pub(crate) fn cursor(after: Option<&str>) -> Result<Option<PageCursor>, ApiError> {
    after
        .map(|a| {
            a.parse::<PageCursor>()
                .map_err(|e| ApiError::invalid_request(format!("after {a:?} is not a cursor: {e}")))
        })
        .transpose()
}
