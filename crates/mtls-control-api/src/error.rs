//! The error body every failed call returns.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code (stable, for programs) and the message (for people: names the field, value or
/// rule at fault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

/// The stable error codes, each with one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the body or a parameter is malformed (names the field).
    InvalidRequest,
    /// 400: the CSR does not parse, or its signature does not verify.
    InvalidCsr,
    /// 400: the route spec does not validate (names the field).
    InvalidRoute,
    /// 401: no (acceptable) client certificate, or an unknown enrollment token.
    Unauthenticated,
    /// 403: the caller may not do this (another tenant, an admin-only endpoint).
    Forbidden,
    /// 403: the route breaks the tenant's route policy (names the rule).
    PolicyViolation,
    /// 403: the tenant is suspended.
    TenantSuspended,
    /// 403: the expired certificate's lineage has no recoveries left.
    RecoveryLimitReached,
    /// 404: no such tenant, route, certificate or endpoint.
    NotFound,
    /// 405: the endpoint exists but not with this method.
    MethodNotAllowed,
    /// 409: it exists already, or conflicts with what exists (route, tenant, status).
    Conflict,
    /// 410: the enrollment token was used or has expired.
    TokenGone,
    /// 413: the request body is over the limit.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many requests; retry after the `Retry-After` seconds.
    RateLimited,
    /// 500: the server failed; the message says what it was doing.
    Internal,
    /// 503: the registry is busy or unavailable; retry.
    Unavailable,
}

// === impl ErrorCode ===

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidCsr | Self::InvalidRoute => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden
            | Self::PolicyViolation
            | Self::TenantSuspended
            | Self::RecoveryLimitReached => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::TokenGone => 410,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The code as written on the wire (`"not_found"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidCsr => "invalid_csr",
            Self::InvalidRoute => "invalid_route",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::PolicyViolation => "policy_violation",
            Self::TenantSuspended => "tenant_suspended",
            Self::RecoveryLimitReached => "recovery_limit_reached",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::TokenGone => "token_gone",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorBody {
    /// A body with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::PolicyViolation,
            ErrorCode::RecoveryLimitReached,
            ErrorCode::TokenGone,
            ErrorCode::Unavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
