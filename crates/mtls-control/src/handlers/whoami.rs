//! `GET /v1/whoami`: how the server sees the caller.

use axum::Json;
use mtls_control_api::{ErrorBody, WhoAmI};

use crate::caller::{Caller, Role};
use crate::error::ApiError;

/// The caller's kind (`admin` or `tenant`), name and certificate.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "identity",
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "tenant_suspended", body = ErrorBody),
    )
)]
pub(crate) async fn get(caller: Caller) -> Result<Json<WhoAmI>, ApiError> {
    let (kind, name, serial, not_after) = match &caller.role {
        Role::Admin(id) => ("admin", id.name.to_string(), &id.serial, id.not_after),
        Role::Tenant(id) => ("tenant", id.name.to_string(), &id.serial, id.not_after),
    };
    Ok(Json(WhoAmI {
        kind: kind.to_owned(),
        name,
        serial: serial.to_string(),
        not_after,
    }))
}
