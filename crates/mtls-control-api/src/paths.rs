//! The endpoint paths, as the server routes them and the client builds them. Path
//! parameters are tenant ids, route ids (`r-...`) and serials (hex), none of which need
//! percent-encoding.

/// `POST`: redeem a one-time token and a CSR for a certificate (no client certificate).
pub const ENROLL: &str = "/v1/enroll";
/// `POST`: a new certificate for the caller's own tenant and lineage.
pub const RENEW: &str = "/v1/renew";
/// `GET`: who the caller's certificate says it is.
pub const WHOAMI: &str = "/v1/whoami";
/// `GET` (admin): all tenants; `POST` (admin): create one.
pub const TENANTS: &str = "/v1/tenants";
/// `GET`: the audit log (admin: all events; tenant: its own).
pub const AUDIT: &str = "/v1/audit";
/// `GET`: the certificate revocation list (no authentication; PEM, or DER with
/// `?format=der` or `Accept: application/pkix-crl`).
pub const CRL: &str = "/v1/crl";
/// `GET`: this API's OpenAPI 3 description.
pub const OPENAPI: &str = "/openapi.json";

/// `GET`: one tenant; `DELETE` (admin): delete it.
pub fn tenant(id: &str) -> String {
    format!("/v1/tenants/{id}")
}

/// `POST` (admin): suspend a tenant.
pub fn tenant_suspend(id: &str) -> String {
    format!("/v1/tenants/{id}/suspend")
}

/// `POST` (admin): resume a tenant.
pub fn tenant_resume(id: &str) -> String {
    format!("/v1/tenants/{id}/resume")
}

/// `PUT` (admin): replace a tenant's limits and route policy.
pub fn tenant_limits(id: &str) -> String {
    format!("/v1/tenants/{id}/limits")
}

/// `PUT` (admin): assign or clear a tenant's egress address.
pub fn tenant_egress(id: &str) -> String {
    format!("/v1/tenants/{id}/egress")
}

/// `GET`: a tenant's routes; `POST`: add one.
pub fn tenant_routes(id: &str) -> String {
    format!("/v1/tenants/{id}/routes")
}

/// `DELETE`: remove one route of a tenant.
pub fn tenant_route(id: &str, route: &str) -> String {
    format!("/v1/tenants/{id}/routes/{route}")
}

/// `GET` (admin): a tenant's enrollment tokens (never their secrets); `POST` (admin): create
/// a one-time enrollment token.
pub fn tenant_tokens(id: &str) -> String {
    format!("/v1/tenants/{id}/tokens")
}

/// `GET`: a tenant's certificates.
pub fn tenant_certs(id: &str) -> String {
    format!("/v1/tenants/{id}/certs")
}

/// `POST`: revoke a certificate (a tenant: only its own).
pub fn cert_revoke(serial: &str) -> String {
    format!("/v1/certs/{serial}/revoke")
}
