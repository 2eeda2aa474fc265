//! Tenants: list, create, read, delete, suspend, resume, limits, egress address, tokens.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use mtls_control_api::{
    EgressUpdate, ErrorBody, Limits, Tenant, TenantCreate, TenantDeleted, TenantPage, Token,
    TokenCreate, TokenCreated,
};
use mtls_identity::TenantId;
use mtls_registry::{TenantStatus, TenantUpdate};

use crate::caller::{AdminCaller, Caller};
use crate::convert;
use crate::error::ApiError;
use crate::handlers::page::PageQuery;
use crate::json::{ApiJson, ApiPath, ApiQuery, OptionalJson, path_param};
use crate::state::AppState;

fn tenant_id(value: &str) -> Result<TenantId, ApiError> {
    path_param("id", value)
}

/// Lists tenants by id, a page at a time (admin).
#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "tenants",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tenants, ordered by id; `next` is the cursor of the next page", body = TenantPage),
        (status = 400, description = "invalid_request: bad limit or after", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    let (after, limit) = query.parse()?;
    let page = state
        .store("listing tenants", move |s| {
            s.tenants_page(after.as_ref(), limit)
        })
        .await?;
    Ok(Json(TenantPage {
        items: page.items.iter().map(convert::tenant).collect(),
        next: page.next.map(|c| c.to_string()),
    }))
}

/// Creates an active tenant (admin).
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body = TenantCreate,
    responses(
        (status = 201, description = "The new tenant", body = Tenant),
        (status = 400, description = "invalid_request (names the field)", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
        (status = 409, description = "conflict: the tenant exists", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiJson(body): ApiJson<TenantCreate>,
) -> Result<(axum::http::StatusCode, Json<Tenant>), ApiError> {
    let id: TenantId = body
        .id
        .parse()
        .map_err(|e| ApiError::invalid_request(format!("id {:?}: {e}", body.id)))?;
    let limits = body.limits.unwrap_or_default();
    let (tenant_limits, policy) = convert::limits_from_api(&limits)?;
    let actor = admin.auth.actor();
    let name = body.display_name;
    let record = state
        .store("creating a tenant", move |s| {
            // One transaction: a tenant is never left without the policy it was created
            // with.
            let settings = TenantUpdate {
                route_policy: Some(policy),
                ..TenantUpdate::default()
            };
            s.create_tenant_with(&actor, &id, &name, tenant_limits, &settings)
        })
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(convert::tenant(&record)),
    ))
}

/// One tenant (admin, or the tenant itself).
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 400, description = "invalid_request: bad tenant id", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: another tenant", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Tenant>, ApiError> {
    let id = tenant_id(&id)?;
    caller.may_act_on(&id)?;
    let record = state
        .store("reading a tenant", move |s| s.tenant(&id))
        .await?;
    Ok(Json(convert::tenant(&record)))
}

/// Deletes a tenant (admin): revokes its certificates, removes its routes and tokens.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "What was removed", body = TenantDeleted),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TenantDeleted>, ApiError> {
    let id = tenant_id(&id)?;
    let actor = admin.auth.actor();
    let deleted = state
        .store("deleting a tenant", move |s| s.delete_tenant(&actor, &id))
        .await?;
    Ok(Json(TenantDeleted {
        revoked: deleted.revoked.iter().map(ToString::to_string).collect(),
        routes_removed: deleted.routes_removed,
        tokens_removed: deleted.tokens_removed,
    }))
}

async fn set_status(
    state: AppState,
    admin: AdminCaller,
    id: String,
    status: TenantStatus,
) -> Result<Json<Tenant>, ApiError> {
    let id = tenant_id(&id)?;
    let actor = admin.auth.actor();
    let record = state
        .store("changing a tenant's status", move |s| {
            s.set_tenant_status(&actor, &id, status)
        })
        .await?;
    Ok(Json(convert::tenant(&record)))
}

/// Suspends a tenant (admin): its connections and API calls are refused.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/suspend",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The suspended tenant", body = Tenant),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "conflict: already suspended", body = ErrorBody),
    )
)]
pub(crate) async fn suspend(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Tenant>, ApiError> {
    set_status(state, admin, id, TenantStatus::Suspended).await
}

/// Resumes a suspended tenant (admin).
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/resume",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The active tenant", body = Tenant),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "conflict: already active", body = ErrorBody),
    )
)]
pub(crate) async fn resume(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Tenant>, ApiError> {
    set_status(state, admin, id, TenantStatus::Active).await
}

/// Replaces a tenant's limits and route policy in one transaction (admin).
#[utoipa::path(
    put,
    path = "/v1/tenants/{id}/limits",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    request_body = Limits,
    responses(
        (status = 200, description = "The updated tenant", body = Tenant),
        (status = 400, description = "invalid_request (names the field)", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    )
)]
pub(crate) async fn put_limits(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Limits>,
) -> Result<Json<Tenant>, ApiError> {
    let id = tenant_id(&id)?;
    let (limits, policy) = convert::limits_from_api(&body)?;
    let actor = admin.auth.actor();
    let update = TenantUpdate {
        limits: Some(limits),
        route_policy: Some(policy),
        egress_address: None,
    };
    let record = state
        .store("updating a tenant's limits", move |s| {
            s.update_tenant(&actor, &id, &update)
        })
        .await?;
    Ok(Json(convert::tenant(&record)))
}

/// Assigns (or clears, with `null`) a tenant's egress address (admin). The host must hold
/// the address, and no other tenant may have it.
#[utoipa::path(
    put,
    path = "/v1/tenants/{id}/egress",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    request_body = EgressUpdate,
    responses(
        (status = 200, description = "The updated tenant", body = Tenant),
        (status = 400, description = "invalid_request: not an address this host holds", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "conflict: another tenant has the address", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    )
)]
pub(crate) async fn put_egress(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EgressUpdate>,
) -> Result<Json<Tenant>, ApiError> {
    let id = tenant_id(&id)?;
    if let Some(address) = body.address {
        mtls_egress::check_local_address(address)
            .map_err(|e| ApiError::invalid_request(format!("address: {e}")))?;
    }
    let actor = admin.auth.actor();
    let update = TenantUpdate {
        egress_address: Some(body.address),
        ..TenantUpdate::default()
    };
    let record = state
        .store("assigning an egress address", move |s| {
            s.update_tenant(&actor, &id, &update)
        })
        .await?;
    Ok(Json(convert::tenant(&record)))
}

/// Creates a one-time enrollment token for a tenant (admin). The secret is shown once.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/tokens",
    tag = "enrollment",
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Option<TokenCreate>, description = "Optional; default ttl 3600 s"),
    responses(
        (status = 201, description = "The token (its secret shown this once)", body = TokenCreated),
        (status = 400, description = "invalid_request: ttl out of range", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin) or tenant_suspended", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<TokenCreate>,
) -> Result<(axum::http::StatusCode, Json<TokenCreated>), ApiError> {
    let id = tenant_id(&id)?;
    let actor = admin.auth.actor();
    let ttl = Duration::from_secs(body.ttl_seconds);
    let (secret, record) = state
        .store("creating an enrollment token", move |s| {
            s.create_enrollment_token(&actor, &id, ttl)
        })
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(TokenCreated {
            id: record.id,
            tenant: record.tenant.to_string(),
            token: secret.expose().to_owned(),
            created_at: record.created_at,
            expires_at: record.expires_at,
        }),
    ))
}

/// A tenant's enrollment tokens, oldest first (admin). Secrets are never stored, so never
/// shown: only ids, times and whether each was used.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}/tokens",
    tag = "enrollment",
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant's tokens", body = [Token]),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<Token>>, ApiError> {
    let id = tenant_id(&id)?;
    let tokens = state
        .store("listing enrollment tokens", move |s| {
            s.tenant(&id)?;
            s.tokens(Some(&id))
        })
        .await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| Token {
                id: t.id,
                tenant: t.tenant.to_string(),
                created_at: t.created_at,
                expires_at: t.expires_at,
                used_at: t.used_at,
            })
            .collect(),
    ))
}
