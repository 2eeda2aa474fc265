//! Property tests: any valid tenant id and display name yields a certificate naming them.

use std::sync::OnceLock;

use mtls_ca::{CertificateAuthority, ClientCertRequest, KeyAlgorithm};
use mtls_identity::{PeerIdentity, TenantId};
use proptest::prelude::*;

use crate::support::*;

fn shared_ca() -> &'static CertificateAuthority {
    static CA: OnceLock<CertificateAuthority> = OnceLock::new();
    CA.get_or_init(|| ca(true, KeyAlgorithm::EcdsaP256))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn issued_certs_name_the_tenant(
        tenant in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        display_name in "[A-Za-z0-9][A-Za-z0-9 .,&'()-]{0,62}[A-Za-z0-9.)]?",
    ) {
        let tenant: TenantId = tenant.parse().unwrap();
        let req = ClientCertRequest::new(domain(), tenant.clone(), display_name.clone());
        let issued = shared_ca().issue_client(&req).unwrap();
        let peer = PeerIdentity::from_der(&issued.cert_der, Some(&domain())).unwrap();
        prop_assert_eq!(peer.tenant.as_ref(), Some(&tenant));
        prop_assert_eq!(peer.common_name.as_deref(), Some(tenant.as_str()));
        prop_assert_eq!(peer.organizations, vec![display_name]);
        prop_assert_eq!(peer.serial, issued.serial);
    }
}
