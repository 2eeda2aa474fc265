//! `GET /v1/audit`: the audit log (admin: every event; tenant: its own).

use axum::Json;
use axum::extract::State;
use mtls_control_api::{AuditEvent, ErrorBody};
use mtls_registry::AuditFilter;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::caller::Caller;
use crate::convert;
use crate::error::ApiError;
use crate::json::ApiQuery;
use crate::state::AppState;

/// The most events one call returns.
pub(crate) const MAX_AUDIT_LIMIT: u32 = 1000;
/// The number of events returned without `limit`.
pub(crate) const DEFAULT_AUDIT_LIMIT: u32 = 100;

/// `?since=RFC3339&limit=N`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events at or after this time (RFC 3339).
    since: Option<String>,
    /// At most this many (the most recent), 1 to 1000; default 100.
    limit: Option<u32>,
}

/// Audit events in ascending order: every event for an admin, the caller's own tenant's
/// events for a tenant.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Events, oldest first", body = [AuditEvent]),
        (status = 400, description = "invalid_request: bad since or limit", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let since = query
        .since
        .as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
                ApiError::invalid_request(format!("since {s:?} is not an RFC 3339 time: {e}"))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
    if limit == 0 || limit > MAX_AUDIT_LIMIT {
        return Err(ApiError::invalid_request(format!(
            "limit {limit} is outside 1 to {MAX_AUDIT_LIMIT}"
        )));
    }
    let filter = AuditFilter {
        tenant: caller.tenant().cloned(),
        since,
        limit: Some(limit),
    };
    let events = state
        .store("reading the audit log", move |s| s.audit_events(&filter))
        .await?;
    Ok(Json(events.iter().map(convert::audit_event).collect()))
}
