//! A tenant's routes: list, add (an admin directly; a tenant within its route policy),
//! remove.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mtls_control_api::{ErrorBody, ErrorCode, Route, RoutePage};
use mtls_identity::TenantId;
use mtls_registry::RouteId;
use mtls_route_spec::RouteSpec;
use serde_json::Value;

use crate::caller::{Caller, Role};
use crate::convert;
use crate::error::ApiError;
use crate::handlers::page::PageQuery;
use crate::json::{ApiJson, ApiPath, ApiQuery, path_param};
use crate::state::AppState;

/// A tenant's routes in creation order, a page at a time (admin, or the tenant itself).
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}/routes",
    tag = "routes",
    params(("id" = String, Path, description = "Tenant id"), PageQuery),
    responses(
        (status = 200, description = "A page of the tenant's routes, in creation order; `next` is the cursor of the next page", body = RoutePage),
        (status = 400, description = "invalid_request: bad limit or after (also another tenant's cursor)", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: another tenant", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<RoutePage>, ApiError> {
    let id: TenantId = path_param("id", &id)?;
    caller.may_act_on(&id)?;
    let (after, limit) = query.parse()?;
    let page = state
        .store("listing routes", move |s| {
            s.tenant(&id)?;
            s.routes_page(Some(&id), after.as_ref(), limit)
        })
        .await?;
    Ok(Json(RoutePage {
        items: page
            .items
            .iter()
            .map(convert::route)
            .collect::<Result<Vec<_>, _>>()?,
        next: page.next.map(|c| c.to_string()),
    }))
}

/// Adds a route. The body is the route spec alone (`{"kind":"http",...}`). A tenant's own
/// addition is checked against its route policy in the same transaction.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/routes",
    tag = "routes",
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Object, description = "The route spec, as `tenantctl route add --json` prints it"),
    responses(
        (status = 201, description = "The new route", body = Route),
        (status = 400, description = "invalid_route (names the field) or invalid_request", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden (another tenant) or policy_violation (names the rule)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "conflict: overlaps an existing route", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    )
)]
pub(crate) async fn add(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Route>), ApiError> {
    let id: TenantId = path_param("id", &id)?;
    caller.may_act_on(&id)?;
    let spec: RouteSpec = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "spec".to_owned()
        } else {
            format!("spec.{path}")
        };
        ApiError::new(ErrorCode::InvalidRoute, format!("{field}: {}", e.inner()))
    })?;
    let actor = caller.actor();
    let as_tenant = matches!(caller.role, Role::Tenant(_));
    let record = state
        .store("adding a route", move |s| {
            if as_tenant {
                s.add_tenant_route(&actor, &id, spec)
            } else {
                s.add_route(&actor, &id, spec)
            }
        })
        .await?;
    Ok((StatusCode::CREATED, Json(convert::route(&record)?)))
}

/// Removes one route of a tenant (admin, or the tenant itself). A route of another tenant
/// is `not_found` and untouched.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}/routes/{route_id}",
    tag = "routes",
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("route_id" = String, Path, description = "Route id (r-...)"),
    ),
    responses(
        (status = 200, description = "The removed route", body = Route),
        (status = 400, description = "invalid_request: bad id", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: another tenant", body = ErrorBody),
        (status = 404, description = "not_found: no such route of this tenant", body = ErrorBody),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, route_id)): ApiPath<(String, String)>,
) -> Result<Json<Route>, ApiError> {
    let id: TenantId = path_param("id", &id)?;
    let route_id: RouteId = path_param("route_id", &route_id)?;
    caller.may_act_on(&id)?;
    let actor = caller.actor();
    let removed = state
        .store("removing a route", move |s| {
            let owned = s.routes(Some(&id))?.iter().any(|r| r.id == route_id);
            if !owned {
                return Err(mtls_registry::RegistryError::UnknownRoute { id: route_id });
            }
            s.remove_route(&actor, &route_id)
        })
        .await?;
    Ok(Json(convert::route(&removed)?))
}
