//! Errors: [`ApiError`] is what a request fails with (always the JSON [`ErrorBody`] with the
//! code's status); [`ControlError`] is what setting up or serving the API fails with.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mtls_control_api::{ErrorBody, ErrorCode};
use mtls_registry::RegistryError;

/// A failed API call: the code (which fixes the status) and a message naming the field,
/// value or rule at fault. Turned into the JSON [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// The message for people.
    pub message: String,
    /// For [`ErrorCode::RateLimited`]: the `Retry-After` to send.
    pub retry_after: Option<Duration>,
}

/// The code of a failed response, stored in the response's extensions so the audit layer
/// can record it without parsing the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseCode(pub(crate) ErrorCode);

// === impl ApiError ===

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 500 `internal`: the message says what the server was doing, never the cause's
    /// internals (those are logged).
    pub fn internal(doing: &str) -> Self {
        Self::new(
            ErrorCode::Internal,
            format!("the server failed while {doing}; see its log"),
        )
    }

    /// 429 `rate_limited` with a `Retry-After` of `wait` (rounded up to whole seconds).
    pub fn rate_limited(what: &str, wait: Duration) -> Self {
        let secs = retry_after_secs(wait);
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many {what}; retry after {secs} s"),
            retry_after: Some(wait),
        }
    }

    /// Maps a registry error onto the API's codes. Storage failures become 500 (or 503 for
    /// [`RegistryError::Busy`]) without their internals, which are logged here.
    pub fn from_registry(err: RegistryError, doing: &str) -> Self {
        use RegistryError as E;
        let code = match &err {
            E::UnknownTenant { .. } | E::UnknownRoute { .. } | E::UnknownSerial { .. } => {
                ErrorCode::NotFound
            }
            E::DuplicateTenant { .. }
            | E::RouteConflict { .. }
            | E::TenantAlreadyInStatus { .. }
            | E::AlreadyRevoked { .. }
            | E::EgressAddressTaken { .. }
            | E::DuplicateSerial { .. } => ErrorCode::Conflict,
            E::InvalidRoute { source, .. } => {
                return Self::new(ErrorCode::InvalidRoute, format!("{err}: {source}"));
            }
            E::InvalidDisplayName { .. }
            | E::InvalidLimits { .. }
            | E::InvalidTtl { .. }
            | E::InvalidCursor { .. } => ErrorCode::InvalidRequest,
            E::PolicyViolation { .. } => ErrorCode::PolicyViolation,
            E::TenantSuspended { .. } => ErrorCode::TenantSuspended,
            E::RecoveryLimitReached { .. } => ErrorCode::RecoveryLimitReached,
            E::UnknownToken => ErrorCode::Unauthenticated,
            E::TokenAlreadyUsed { .. } | E::TokenExpired { .. } => ErrorCode::TokenGone,
            E::Issue { source, .. } => {
                if let Some(mtls_ca::CaError::Csr(csr)) = source.downcast_ref::<mtls_ca::CaError>()
                {
                    return Self::new(ErrorCode::InvalidCsr, format!("invalid CSR: {csr}"));
                }
                tracing::error!(error = %err, cause = %source, "control API: signing failed while {doing}");
                return Self::internal(doing);
            }
            E::Busy { .. } => {
                tracing::warn!(error = %err, "control API: registry busy while {doing}");
                return Self::new(
                    ErrorCode::Unavailable,
                    format!("the registry is busy (while {doing}); retry"),
                );
            }
            _ => {
                tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "control API: registry failed while {doing}");
                return Self::internal(doing);
            }
        };
        Self::new(code, err.to_string())
    }

    /// The HTTP status of the code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(ErrorBody::new(self.code, self.message))).into_response();
        if let Some(wait) = self.retry_after {
            let secs = retry_after_secs(wait).max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response.extensions_mut().insert(ResponseCode(self.code));
        response
    }
}

/// Why the control plane could not be set up or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The TLS configuration could not be built from the files.
    #[error("control API TLS setup failed")]
    Tls(#[from] mtls_tls::BuildError),
    /// A PEM file could not be loaded.
    #[error("control API TLS setup failed")]
    Pem(#[from] mtls_tls::PemError),
    /// The client-certificate verifier could not be built from the CA file.
    #[error("cannot build the client-certificate verifier from {path}")]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// rustls' reason.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// rustls refused the configuration.
    #[error("rustls refused the control API's TLS configuration")]
    Rustls(#[source] rustls::Error),
    /// The registry failed while the control plane was being set up.
    #[error("the registry failed while setting up the control API")]
    Registry(#[from] RegistryError),
    /// Accepting connections failed.
    #[error("control API listener failed to accept connections")]
    Accept(#[source] io::Error),
}

#[cfg(test)]
mod tests {
    use mtls_identity::{Serial, TenantId};
    use mtls_registry::{RegistryError, TenantStatus};

    use super::*;

    fn acme() -> TenantId {
        "acme".parse().unwrap()
    }

    #[test]
    fn registry_errors_map_to_their_codes() {
        let cases: Vec<(RegistryError, ErrorCode)> = vec![
            (
                RegistryError::UnknownTenant { id: acme() },
                ErrorCode::NotFound,
            ),
            (
                RegistryError::UnknownSerial {
                    serial: Serial::random(),
                },
                ErrorCode::NotFound,
            ),
            (
                RegistryError::DuplicateTenant { id: acme() },
                ErrorCode::Conflict,
            ),
            (
                RegistryError::TenantAlreadyInStatus {
                    id: acme(),
                    status: TenantStatus::Active,
                },
                ErrorCode::Conflict,
            ),
            (
                RegistryError::EgressAddressTaken {
                    address: "127.0.0.2".parse().unwrap(),
                    owner: acme(),
                },
                ErrorCode::Conflict,
            ),
            (
                RegistryError::TenantSuspended { id: acme() },
                ErrorCode::TenantSuspended,
            ),
            (
                RegistryError::RecoveryLimitReached {
                    lineage: Serial::random(),
                    limit: 3,
                },
                ErrorCode::RecoveryLimitReached,
            ),
            (RegistryError::UnknownToken, ErrorCode::Unauthenticated),
            (
                RegistryError::TokenAlreadyUsed { id: "t-1".into() },
                ErrorCode::TokenGone,
            ),
            (
                RegistryError::InvalidLimits {
                    field: "max_connections",
                    reason: "must be at least 1",
                },
                ErrorCode::InvalidRequest,
            ),
            (
                RegistryError::Busy {
                    operation: "write",
                    source: "locked".into(),
                },
                ErrorCode::Unavailable,
            ),
            (
                RegistryError::Database {
                    operation: "write",
                    source: "disk I/O error at /secret/path".into(),
                },
                ErrorCode::Internal,
            ),
        ];
        for (err, code) in cases {
            let text = err.to_string();
            let api = ApiError::from_registry(err, "testing");
            assert_eq!(api.code, code, "{text}");
            assert!(
                !api.message.contains("/secret/path"),
                "internals leak: {}",
                api.message
            );
        }
    }

    #[test]
    fn a_csr_error_inside_issue_is_invalid_csr_and_other_issue_errors_are_internal() {
        let csr = mtls_ca::CaError::Csr(mtls_ca::CsrError::BadSignature);
        let err = RegistryError::Issue {
            tenant: acme(),
            source: Box::new(csr),
        };
        assert_eq!(
            ApiError::from_registry(err, "enrolling").code,
            ErrorCode::InvalidCsr
        );
        let err = RegistryError::Issue {
            tenant: acme(),
            source: "the disk is full".into(),
        };
        let api = ApiError::from_registry(err, "enrolling");
        assert_eq!(api.code, ErrorCode::Internal);
        assert_eq!(
            api.message,
            "the server failed while enrolling; see its log"
        );
    }

    #[test]
    fn a_rate_limit_rounds_retry_after_up_to_whole_seconds() {
        let response =
            ApiError::rate_limited("renewals", Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            response.extensions().get::<ResponseCode>(),
            Some(&ResponseCode(ErrorCode::RateLimited))
        );
    }
}
