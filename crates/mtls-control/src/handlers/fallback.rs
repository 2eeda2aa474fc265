//! Unknown paths (404) and wrong methods (405), as JSON errors.

use axum::http::{Method, Uri};
use mtls_control_api::ErrorCode;

use crate::error::ApiError;

/// The message of every unknown-path 404 starts with this.
pub(crate) const NO_ENDPOINT: &str = "no endpoint";

/// 404 `not_found` for a path the API does not serve.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("{NO_ENDPOINT} {method} {}", uri.path()))
}

/// 405 `method_not_allowed` for a path served with other methods.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not allow {method}", uri.path()),
    )
}
