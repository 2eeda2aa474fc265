//! `CertificateAuthority::sign_csr` on arbitrary bytes (PEM or DER): a tenant controls this
//! input entirely. It must never panic, and whatever it signs must be an end-entity
//! certificate for the requested tenant, never a CA, whatever the CSR asked for.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest};
use mtls_identity::{PeerIdentity, TenantId, TrustDomain};

fn ca() -> &'static (CertificateAuthority, ClientCertRequest, TrustDomain) {
    static CA: OnceLock<(CertificateAuthority, ClientCertRequest, TrustDomain)> = OnceLock::new();
    CA.get_or_init(|| {
        let ca = CertificateAuthority::generate(&CaConfig::default()).expect("CA");
        let domain = TrustDomain::try_new("fuzz.test").expect("domain");
        let req = ClientCertRequest::new(
            domain.clone(),
            TenantId::try_new("acme").expect("tenant"),
            "Acme",
        );
        (ca, req, domain)
    })
}

fuzz_target!(|data: &[u8]| {
    let (ca, req, domain) = ca();
    if let Ok(issued) = ca.sign_csr(data, req) {
        let id = PeerIdentity::from_der(&issued.cert_der, Some(domain)).expect("parses");
        assert_eq!(id.tenant.as_ref().map(TenantId::as_str), Some("acme"));
        assert_eq!(id.common_name.as_deref(), Some("acme"));
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).expect("x509");
        assert!(!cert.is_ca(), "a CSR obtained a CA certificate");
    }
});
