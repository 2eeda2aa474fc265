//! The gateway's decision, in one place: given a registry snapshot, a verified client
//! certificate, the time and a request (host + path, a CONNECT target or a TLS server name),
//! who is admitted (or why not), which of the tenant's routes wins (and the candidates it
//! beat), the verdict on the destination and the identity presented upstream.
//!
//! Sync and pure: no I/O, no clock of its own (the time is an argument), no runtime. The
//! gateway (`mtls-gateway`) acts on these decisions and `tenantctl explain` prints them; both
//! call the same functions, so the explanation cannot drift from what the gateway does.
//!
//! - [`admit`]: after every TLS handshake (resumed ones included): the certificate parses,
//!   is inside its validity period, names a tenant under the registry's trust domain, and
//!   the registry admits that tenant and serial. [`readmit`] re-checks a live connection
//!   against a newer snapshot.
//! - [`Policy`]: one snapshot with its compiled route table; [`Policy::route_http_request`]
//!   (the request path normalised by `mtls-request-path`, then matched, then the winning
//!   route's `escaped_slashes` applied), [`Policy::route_tcp`] and
//!   [`Policy::route_connect`] are the per-request lookups (no allocation for a path that
//!   is already normal), [`Policy::decide`] the whole decision with the candidates.
//! - [`DestinationVerdict`]: which CONNECT destinations may be dialed (non-public ranges
//!   need the route's `allow_private`); names are judged per resolved address at dial time
//!   with [`DestinationVerdict::of_address`].
//!
//! What it does not own: the TLS handshake (`mtls-tls`), limits and rates (runtime state of
//! the gateway), dialing (`mtls-egress`) and forwarding (`mtls-http-proxy`).
//!
//! # Example
//!
//! ```
//! use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest};
//! use mtls_policy::{DestinationVerdict, Policy, Request, RouteDecision, UpstreamIdentity};
//! use mtls_registry::{RouteId, RouteRecord, SnapshotBuilder, SnapshotTenant, TenantLimits, TenantStatus};
//!
//! // A tenant `acme` with one certificate and one HTTP route, as a registry snapshot.
//! let ca = CertificateAuthority::generate(&CaConfig::default())?;
//! let domain: mtls_identity::TrustDomain = "example.test".parse()?;
//! let acme: mtls_identity::TenantId = "acme".parse()?;
//! let cert = ca.issue_client(&ClientCertRequest::new(domain.clone(), acme.clone(), "Acme"))?;
//! let mut snapshot = SnapshotBuilder::new(1, domain);
//! let tenant = SnapshotTenant {
//!     display_name: "Acme".into(),
//!     status: TenantStatus::Active,
//!     limits: TenantLimits::default(),
//!     egress_address: None,
//! };
//! snapshot.tenant(acme.clone(), tenant)?;
//! snapshot.certificate(cert.serial.clone(), acme.clone(), false)?;
//! snapshot.route(RouteRecord {
//!     id: RouteId::random(),
//!     tenant: acme.clone(),
//!     spec: serde_json::from_str(
//!         r#"{"kind":"http","host":"api.acme.test","path_prefix":"/v1","upstreams":["http://10.0.0.5:8080"]}"#,
//!     )?,
//!     created_at: time::OffsetDateTime::now_utc(),
//! })?;
//! let policy = Policy::new(snapshot.build());
//!
//! // What the gateway decides for this certificate and request, and `tenantctl explain` prints.
//! let now = time::OffsetDateTime::now_utc();
//! let request = Request::Http { host: "api.acme.test", path: "/v1/orders" };
//! let decision = policy.decide(Some(&cert.cert_der), now, request);
//! assert_eq!(decision.admission.as_ref().map(|a| &a.tenant).ok(), Some(&acme));
//! let Some(RouteDecision::Http { path, explanation, upstream_identity }) = decision.route else {
//!     unreachable!("an HTTP request gets an HTTP route decision")
//! };
//! assert!(explanation.is_some_and(|e| e.outcome.is_ok()));
//! assert_eq!(upstream_identity, Some(UpstreamIdentity::PlainHttp));
//! assert_eq!(path.normalized.as_deref(), Ok("/v1/orders"));
//!
//! // The request path is normalised before routing, as the gateway does: this request is
//! // for /admin, which no route of acme matches, and an escaped slash is refused.
//! let escape = Request::Http { host: "api.acme.test", path: "/v1/%2e%2e/admin?x=1" };
//! let Some(RouteDecision::Http { path, explanation, .. }) =
//!     policy.decide(Some(&cert.cert_der), now, escape).route else { unreachable!() };
//! assert_eq!((path.raw.as_str(), path.query.as_deref()), ("/v1/%2e%2e/admin", Some("x=1")));
//! assert_eq!(path.normalized.as_deref(), Ok("/admin"));
//! assert!(explanation.is_some_and(|e| e.outcome.is_err()));
//! let slash = Request::Http { host: "api.acme.test", path: "/v1/a%2Fb" };
//! let Some(RouteDecision::Http { path, .. }) =
//!     policy.decide(Some(&cert.cert_der), now, slash).route else { unreachable!() };
//! assert_eq!(path.refusal.map(|e| e.reason()), Some("encoded_slash"));
//!
//! // A day after the certificate expires, the same certificate is refused (a resumed TLS
//! // session would not have checked).
//! let later = cert.not_after + time::Duration::days(1);
//! let refused = policy.decide(Some(&cert.cert_der), later, request).admission.unwrap_err();
//! assert_eq!(refused.reason.as_str(), "certificate_expired");
//!
//! // CONNECT to an IP literal is judged before anything is dialed; a name is judged on every
//! // address it resolves to, at dial time, by the same rule.
//! assert!(DestinationVerdict::before_dial("169.254.169.254", false).is_refused());
//! assert!(DestinationVerdict::of_address("10.0.0.7".parse()?, false).is_refused());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admission;
mod decision;
mod egress;
mod routes;

pub use admission::{AdmissionRefusal, Admitted, Refused, admit, readmit};
pub use decision::{Decision, PathDecision, Request, RouteDecision, UpstreamIdentity};
pub use egress::{EgressOrigin, EgressSource};
pub use mtls_request_path::PathError;
pub use routes::{ConnectDecision, DestinationVerdict, HttpRefusal, HttpRouted, Policy};

#[cfg(test)]
mod tests;
