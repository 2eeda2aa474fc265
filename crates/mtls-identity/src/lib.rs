//! Who is on the other end of a TLS connection, as far as multi-mtls-proxy is concerned.
//!
//! This crate owns the small, validated value types that every other crate speaks in:
//!
//! - [`TenantId`]: a DNS-label-like tenant identifier (`acme`, `team-42`).
//! - [`TrustDomain`]: the domain of our SPIFFE-style URIs (`spiffe://<trust-domain>/tenant/<id>`).
//! - [`Serial`]: a certificate serial number, normalised so that the same number always
//!   compares equal whatever its DER padding.
//! - [`Fingerprint`]: the SHA-256 digest of a certificate's DER.
//! - [`PeerIdentity`]: everything the data plane needs from a (verified) certificate.
//! - [`check_validity`] / [`ValidityError`]: is a certificate inside its validity period now
//!   (checked after every handshake: rustls does not verify a resumed session again);
//!   [`validity_of_der`] reads only a certificate's validity period (cheap, per handshake).
//!
//! It is sync and pure: no I/O, no tokio. Parsing untrusted certificate bytes never panics.
//!
//! # Example
//!
//! ```
//! use mtls_identity::{TenantId, TrustDomain, tenant_uri};
//!
//! let domain: TrustDomain = "proxy.example.com".parse()?;
//! let tenant: TenantId = "acme".parse()?;
//! let uri = tenant_uri(&domain, &tenant);
//! assert_eq!(uri, "spiffe://proxy.example.com/tenant/acme");
//! assert_eq!(mtls_identity::tenant_from_uri(&domain, &uri), Some(tenant));
//!
//! // Bad ids get a reason, not just "invalid".
//! let err = "Acme".parse::<TenantId>().unwrap_err();
//! assert!(err.to_string().contains("uppercase"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod acl;
mod admin;
mod fingerprint;
mod ids;
mod peer;
mod revocation;
mod serial;
mod validity;

pub use acl::{AclDecision, AclField, AclPattern, AclPatternError, AclRules};
pub use admin::{AdminName, admin_from_uri, admin_uri};
pub use fingerprint::{Fingerprint, FingerprintParseError};
pub use ids::{IdError, TenantId, TrustDomain, tenant_from_uri, tenant_uri};
pub use peer::{IdentityError, PeerIdentity};
pub use revocation::{RevocationReason, UnknownRevocationReason};
pub use serial::{Serial, SerialError};
pub use validity::{ValidityError, ValidityReadError, check_validity, validity_of_der};
