//! `GET /openapi.json`: this API's OpenAPI 3 document, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' schemas.

use axum::Json;
use utoipa::OpenApi;

use super::{audit, certs, crl, enroll, renew, routes, tenants, whoami};

/// The document's source: every handler and schema.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "multi-mtls-proxy control plane",
        description = "Admin, tenant self-service, enrollment and renewal over mTLS. Every error is {\"error\":{\"code\",\"message\"}}. Listings (tenants, a tenant's routes and certificates, the audit log) are paged: ?limit=1..1000 (default 100) and ?after=<the previous page's next>; they answer {\"items\":[...],\"next\":cursor or null}.",
    ),
    paths(
        enroll::enroll,
        renew::renew,
        whoami::get,
        tenants::list,
        tenants::create,
        tenants::get,
        tenants::delete,
        tenants::suspend,
        tenants::resume,
        tenants::put_limits,
        tenants::put_egress,
        tenants::create_token,
        tenants::list_tokens,
        routes::list,
        routes::add,
        routes::remove,
        certs::list,
        certs::revoke,
        audit::list,
        crl::get,
        document,
    ),
    components(schemas(
        mtls_control_api::ErrorBody,
        mtls_control_api::ErrorDetail,
        mtls_control_api::ErrorCode,
    ))
)]
pub(crate) struct ApiDoc;

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json", body = Object))
)]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
