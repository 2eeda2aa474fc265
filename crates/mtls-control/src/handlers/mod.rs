//! The endpoint handlers, one module per resource. Every handler carries its
//! `#[utoipa::path]` (the OpenAPI document is generated from them, see [`openapi`]).

pub(crate) mod audit;
pub(crate) mod certs;
pub(crate) mod crl;
pub(crate) mod enroll;
pub(crate) mod fallback;
pub(crate) mod openapi;
pub(crate) mod page;
pub(crate) mod renew;
pub(crate) mod routes;
pub(crate) mod tenants;
pub(crate) mod whoami;

use mtls_ca::IssuedCertificate;
use mtls_registry::{CertificateKind, NewCertificate};

/// The facts the registry records about a certificate the CA just signed.
pub(crate) fn new_certificate(issued: &IssuedCertificate) -> NewCertificate {
    NewCertificate {
        serial: issued.serial.clone(),
        fingerprint: issued.fingerprint,
        not_before: issued.not_before,
        not_after: issued.not_after,
        kind: CertificateKind::Client,
    }
}
