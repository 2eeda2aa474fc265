//! Request and response bodies. Times are RFC 3339 UTC strings; serials are lowercase hex.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /v1/enroll`: a one-time token and a PEM CSR. Only the CSR's public key is used:
/// the CA decides the identity (the tenant the token was made for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token (`mtls-enroll-...`).
    pub token: String,
    /// The certificate signing request, PEM.
    pub csr: String,
}

/// `POST /v1/renew`: a PEM CSR for the new certificate, authenticated by the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The certificate signing request, PEM (may reuse the current key or a new one).
    pub csr: String,
    /// Revoke the certificate used to authenticate once the new one is recorded. A plain
    /// renewal leaves it valid until it expires, so files can be swapped safely. A renewal
    /// by an expired certificate (recovery) always revokes it.
    #[serde(default)]
    pub revoke_previous: bool,
}

/// A certificate issued by enrollment or renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateIssued {
    /// The certificate chain, PEM: the leaf, then any intermediate.
    pub cert: String,
    /// The root CA certificate, PEM (trust it for the proxy's server certificates).
    pub ca: String,
    /// The new certificate's serial.
    pub serial: String,
    /// Its tenant.
    pub tenant: String,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The renewal chain it belongs to (the first certificate's serial).
    pub lineage: String,
}

/// `POST /v1/tenants`: onboard a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// Tenant id: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'.
    pub id: String,
    /// Display name (the O of the tenant's certificates), 1-64 characters.
    pub display_name: String,
    /// Limits and route policy; defaults when omitted.
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// A tenant's connection limits and the route policy bounding its self-service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Concurrent connections through the gateway (none: only the global limit).
    pub max_connections: Option<u32>,
    /// Requests (or new TCP connections) per second (none: unlimited).
    pub requests_per_second: Option<u32>,
    /// Routes the tenant may have in all.
    pub max_routes: u32,
    /// Upstreams (or CONNECT patterns) per route.
    pub max_upstreams_per_route: u32,
    /// Upstream hosts the tenant may name itself: exact names, IP literals or `*.suffix`.
    /// Empty: any host.
    pub allowed_upstream_hosts: Vec<String>,
    /// Upstream ports the tenant may name itself: `443` or `8000-8999`. Empty: any port.
    pub allowed_upstream_ports: Vec<String>,
    /// Whether the tenant's own routes may reach private, loopback and other non-public
    /// addresses. Only an admin can grant it.
    pub allow_private: bool,
    /// Proxy-held client identities the tenant's routes may present upstream.
    pub allowed_identities: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: None,
            requests_per_second: None,
            max_routes: 100,
            max_upstreams_per_route: 8,
            allowed_upstream_hosts: Vec::new(),
            allowed_upstream_ports: Vec::new(),
            allow_private: false,
            allowed_identities: Vec::new(),
        }
    }
}

/// `PUT /v1/tenants/{id}/egress`: the tenant's own source address (one the host holds and
/// no other tenant has), or `null` to clear it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressUpdate {
    /// The address every route of the tenant without an explicit `egress_bind` leaves from.
    #[schema(value_type = Option<String>, example = "192.0.2.10")]
    pub address: Option<IpAddr>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Limits and route policy.
    pub limits: Limits,
    /// The tenant's egress address, if assigned.
    #[schema(value_type = Option<String>)]
    pub egress_address: Option<IpAddr>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What deleting a tenant removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantDeleted {
    /// Serials of the certificates revoked.
    pub revoked: Vec<String>,
    /// Routes removed.
    pub routes_removed: u32,
    /// Enrollment tokens removed.
    pub tokens_removed: u32,
}

/// A route. `POST /v1/tenants/{id}/routes` takes the `spec` object alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    /// Route id (`r-...`).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// The route spec: `{"kind":"http","host":...,"upstreams":[...]}`, `{"kind":"tcp",...}`
    /// or `{"kind":"connect",...}`, as `tenantctl route add --json` prints it.
    #[schema(value_type = Object)]
    pub spec: Value,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /v1/tenants/{id}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenCreate {
    /// Lifetime in seconds (60 to 2,592,000); default 3600.
    pub ttl_seconds: u64,
}

impl Default for TokenCreate {
    fn default() -> Self {
        Self { ttl_seconds: 3600 }
    }
}

/// A new enrollment token. The secret is shown this once: only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// Token id (`t-...`), safe to log.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// The secret to hand to the tenant.
    pub token: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An enrollment token as stored: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// Token id (`t-...`).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was redeemed, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

/// A certificate recorded in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Certificate {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Its tenant.
    pub tenant: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was revoked, if it was.
    pub revocation_reason: Option<String>,
    /// Its renewal chain (the first certificate's serial).
    pub lineage: String,
    /// The certificate it renewed, if any.
    pub renewed_from: Option<String>,
    /// Whether it was issued by recovering an expired certificate.
    pub recovered: bool,
}

/// `POST /v1/certs/{serial}/revoke` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RevokeRequest {
    /// unspecified (default), key-compromise, ca-compromise, affiliation-changed,
    /// superseded, cessation-of-operation, privilege-withdrawn.
    pub reason: Option<String>,
}

/// One audit event; `hash` chains it to the one before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who, and from where: `api:admin/alice from 127.0.0.1:50312`.
    pub actor: String,
    /// What: `route.add`, `api.read`, `api.refused`, ...
    pub action: String,
    /// The tenant concerned, if any.
    pub tenant: Option<String>,
    /// The facts (never secrets).
    #[schema(value_type = Object)]
    pub details: Value,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// `GET /v1/whoami`: how the server sees the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// `admin` or `tenant`.
    pub kind: String,
    /// The admin name or tenant id.
    pub name: String,
    /// The presented certificate's serial.
    pub serial: String,
    /// Its end of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// The default number of items a listing returns without `limit`.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The most items one listing call returns (`limit` is 1 to this).
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Declares a page of a listing: the items and the cursor of the next page.
macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        ///
        /// Pass `next` as `?after=` (with the same filters) for the page that follows;
        /// `null` when nothing followed the last item when it was read.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            /// The items, in the listing's order.
            pub items: Vec<$item>,
            /// The cursor after the last item; `null` on the last page.
            pub next: Option<String>,
        }
    };
}

page_type!(
    /// `GET /v1/tenants`: a page of tenants, by id.
    TenantPage,
    Tenant
);
page_type!(
    /// `GET /v1/tenants/{id}/routes`: a page of a tenant's routes, in creation order.
    RoutePage,
    Route
);
page_type!(
    /// `GET /v1/tenants/{id}/certs`: a page of a tenant's certificates, by issue time.
    CertificatePage,
    Certificate
);
page_type!(
    /// `GET /v1/audit`: a page of audit events, oldest first.
    AuditPage,
    AuditEvent
);
