//! `GET /v1/audit`: the audit log (admin: every event; tenant: its own).

use axum::Json;
use axum::extract::State;
use mtls_control_api::{AuditPage, ErrorBody};
use mtls_registry::{AuditFilter, Page};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::caller::Caller;
use crate::convert;
use crate::error::ApiError;
use crate::handlers::page;
use crate::json::ApiQuery;
use crate::state::AppState;

/// `?since=RFC3339&limit=N&tenant=ID&after=SEQ`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events at or after this time (RFC 3339).
    since: Option<String>,
    /// At most this many, 1 to 1000; default 100: without `after` the most recent ones,
    /// with it the first ones after it.
    limit: Option<u32>,
    /// Page forward: only events after this cursor (an event `seq`, as a page's `next`;
    /// `0` starts at the first event).
    after: Option<String>,
    /// Only this tenant's events. A tenant caller always gets only its own: naming another
    /// tenant is 403.
    tenant: Option<String>,
}

/// Audit events in ascending order: every event for an admin, the caller's own tenant's
/// events for a tenant. Without `after`: the most recent `limit` (`next` is `null`); with
/// it: the `limit` events that follow it, and `next` while more follow (`after=0` pages
/// through the log from the first event).
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events, oldest first; `next` is the cursor of the next page", body = AuditPage),
        (status = 400, description = "invalid_request: bad since, limit or after", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: a tenant naming another tenant", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let since = query
        .since
        .as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
                ApiError::invalid_request(format!("since {s:?} is not an RFC 3339 time: {e}"))
            })
        })
        .transpose()?;
    let limit = page::limit(query.limit)?;
    let after = page::cursor(query.after.as_deref())?;
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
        limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
    };
    let page = state
        .store("reading the audit log", move |s| match &after {
            Some(after) => s.audit_page(&filter, Some(after), limit),
            None => s
                .audit_events(&filter)
                .map(|items| Page { items, next: None }),
        })
        .await?;
    Ok(Json(AuditPage {
        items: page.items.iter().map(convert::audit_event).collect(),
        next: page.next.map(|c| c.to_string()),
    }))
}
