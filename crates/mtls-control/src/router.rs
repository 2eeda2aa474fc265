//! The axum router: every endpoint, the JSON fallbacks, the body limit and the
//! authentication + audit layer.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use mtls_control_api::paths;

use crate::audit_layer::authenticate_and_audit;
use crate::handlers::{
    audit, certs, crl, enroll, fallback, openapi, renew, routes, tenants, whoami,
};
use crate::state::AppState;

/// Builds the router over `state`.
pub(crate) fn build(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    Router::new()
        .route(paths::ENROLL, post(enroll::enroll))
        .route(paths::RENEW, post(renew::renew))
        .route(paths::WHOAMI, get(whoami::get))
        .route(paths::TENANTS, get(tenants::list).post(tenants::create))
        .route(
            "/v1/tenants/{id}",
            get(tenants::get).delete(tenants::delete),
        )
        .route("/v1/tenants/{id}/suspend", post(tenants::suspend))
        .route("/v1/tenants/{id}/resume", post(tenants::resume))
        .route("/v1/tenants/{id}/limits", put(tenants::put_limits))
        .route("/v1/tenants/{id}/egress", put(tenants::put_egress))
        .route(
            "/v1/tenants/{id}/tokens",
            get(tenants::list_tokens).post(tenants::create_token),
        )
        .route(
            "/v1/tenants/{id}/routes",
            get(routes::list).post(routes::add),
        )
        .route("/v1/tenants/{id}/routes/{route_id}", delete(routes::remove))
        .route("/v1/tenants/{id}/certs", get(certs::list))
        .route("/v1/certs/{serial}/revoke", post(certs::revoke))
        .route(paths::AUDIT, get(audit::list))
        .route(paths::CRL, get(crl::get))
        .route(paths::OPENAPI, get(openapi::document))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            authenticate_and_audit,
        ))
        .with_state(state)
}
