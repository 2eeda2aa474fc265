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

/// `?since=RFC3339&limit=N&tenant=ID`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events at or after this time (RFC 3339).
    since: Option<String>,
    /// At most this many (the most recent), 1 to 1000; default 100.
    limit: Option<u32>,
    /// Only this tenant's events. A tenant caller always gets only its own: naming another
    /// tenant is 403.
    tenant: Option<String>,
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
        (status = 403, description = "forbidden: a tenant naming another tenant", body = ErrorBody),
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
    let requested = query
        .tenant
        .as_deref()
        .map(|t| {
            t.parse::<mtls_identity::TenantId>()
                .map_err(|e| ApiError::invalid_request(format!("tenant {t:?}: {e}")))
        })
        .transpose()?;
    let tenant = match (caller.tenant(), requested) {
        // A tenant sees its own events, whatever it asks for; asking for another's is 403.
        (Some(own), Some(asked)) if *own != asked => {
            return Err(ApiError::forbidden(format!(
                "tenant {own} may not read the audit events of tenant {asked}"
            )));
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    };
    let filter = AuditFilter {
        tenant,
        since,
        limit: Some(limit),
    };
    let events = state
        .store("reading the audit log", move |s| s.audit_events(&filter))
        .await?;
    Ok(Json(events.iter().map(convert::audit_event).collect()))
}
