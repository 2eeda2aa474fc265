//! The wire types of the multi-mtls-proxy control-plane API: what `mtls-control` serves and
//! what `mtls-control-client` (and `tenantctl --server`) sends. Sync and pure: serde types
//! with OpenAPI schemas ([`utoipa::ToSchema`]), the endpoint paths and the error body.
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` ([`ErrorBody`]); the code
//! is one of [`ErrorCode`] and fixes the HTTP status.
//!
//! # Example
//!
//! ```
//! use mtls_control_api::{EnrollRequest, ErrorBody, ErrorCode, paths};
//!
//! let req = EnrollRequest { token: "mtls-enroll-...".into(), csr: "-----BEGIN CERTIFICATE REQUEST-----".into() };
//! assert!(serde_json::to_string(&req)?.contains("\"token\""));
//! assert_eq!(paths::tenant_routes("acme"), "/v1/tenants/acme/routes");
//!
//! let body: ErrorBody = serde_json::from_str(
//!     r#"{"error":{"code":"forbidden","message":"tenant a may not read tenant b"}}"#,
//! )?;
//! assert_eq!(body.error.code, ErrorCode::Forbidden);
//! assert_eq!(body.error.code.status(), 403);
//! # Ok::<(), serde_json::Error>(())
//! ```

mod error;
mod types;

pub mod paths;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use types::{
    AuditEvent, AuditPage, Certificate, CertificateIssued, CertificatePage, DEFAULT_PAGE_LIMIT,
    EgressUpdate, EnrollRequest, Limits, MAX_PAGE_LIMIT, RenewRequest, RevokeRequest, Route,
    RoutePage, Tenant, TenantCreate, TenantDeleted, TenantPage, Token, TokenCreate, TokenCreated,
    WhoAmI,
};
