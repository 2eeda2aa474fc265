//! `x-forwarded-client-cert` checked against the real `openssl` CLI's RFC 2253 subject.

use mtls_http_proxy::ForwardedClientCert;
use mtls_test_support::Openssl;
use rcgen::{CertificateParams, DnType, KeyPair};

fn subject_of(value: &str) -> String {
    let start = value.find(";Subject=\"").unwrap() + ";Subject=\"".len();
    let rest = &value[start..];
    // The value ends at the first `"` not escaped by a backslash.
    let mut end = 0;
    let bytes = rest.as_bytes();
    while end < bytes.len() {
        if bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\') {
            break;
        }
        end += 1;
    }
    rest[..end].replace("\\\"", "\"")
}

#[test]
fn subject_matches_openssl_rfc2253_and_hash_is_sha256_of_der() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let dn = &mut params.distinguished_name;
    dn.push(DnType::CountryName, "DE");
    dn.push(DnType::OrganizationName, "Acme, \"Quoted\" + Co; <x>");
    dn.push(DnType::OrganizationalUnitName, " padded ");
    dn.push(DnType::CommonName, "#acme é");
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();

    let uri = "spiffe://proxy.test/tenant/acme";
    let xfcc = ForwardedClientCert::from_der(cert.der(), Some(uri)).unwrap();
    let value = xfcc.header_value().to_str().unwrap().to_owned();

    let out = Openssl.ok(
        dir.path(),
        &[
            "x509", "-in", "c.pem", "-noout", "-subject", "-nameopt", "RFC2253",
        ],
    );
    let expected = out.trim().strip_prefix("subject=").unwrap();
    assert_eq!(subject_of(&value), expected, "{value}");

    let fingerprint = Openssl.ok(
        dir.path(),
        &["x509", "-in", "c.pem", "-noout", "-fingerprint", "-sha256"],
    );
    let hash = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    assert!(
        value.starts_with(&format!("Hash={hash};Subject=\"")),
        "{value}"
    );
    assert!(value.ends_with(&format!("\";URI={uri}")), "{value}");
}

#[test]
fn uri_with_separators_is_quoted_and_garbage_is_refused() {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let xfcc = ForwardedClientCert::from_der(cert.der(), Some("spiffe://d/t;x=1")).unwrap();
    assert!(
        xfcc.header_value()
            .to_str()
            .unwrap()
            .ends_with(";URI=\"spiffe://d/t;x=1\""),
        "{:?}",
        xfcc.header_value()
    );
    assert!(ForwardedClientCert::from_der(b"not a cert", None).is_err());
    assert!(ForwardedClientCert::from_der(cert.der(), Some("bad\nuri")).is_err());
}
