//! A throwaway PKI made with rcgen, for unit tests that need PEM files on disk: a CA and
//! leaves it signs (server or client usage, valid or already expired).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

/// A self-signed CA named `name` (certificate and CRL signing): its issuer and its PEM.
pub fn test_ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (Issuer::new(params, key), pem)
}

/// A leaf for `localhost` signed by `issuer`, with the serverAuth (`server`) or clientAuth
/// usage, valid now or (`expired`) ended yesterday: its certificate and key PEM.
pub fn test_leaf(issuer: &Issuer<'_, KeyPair>, server: bool, expired: bool) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    if expired {
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(3);
        params.not_after = now - time::Duration::days(1);
    }
    params.serial_number = Some(vec![0x42, if server { 1 } else { 2 }].into());
    let key = KeyPair::generate().unwrap();
    (
        params.signed_by(&key, issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}
