//! `x-forwarded-client-cert` checked against the real `openssl` CLI's RFC 2253 subject.

use mtls_http_proxy::ForwardedClientCert;
use mtls_test_support::Openssl;
use rcgen::{CertificateParams, DnType, KeyPair};

fn subject_of(value: &str) -> String {
    // Our Subject never holds `"` or `\\"`: both readings give the raw RFC 4514 text.
    let (_, pairs) = parse_xfcc(value, Quoting::Naive).unwrap();
    pairs
        .into_iter()
        .find_map(|(k, v)| (k == "Subject").then_some(v))
        .unwrap()
}

/// How a consumer reads a quoted XFCC value.
#[derive(Clone, Copy, Debug)]
enum Quoting {
    /// RFC 9110 quoted-string: `\` escapes the next character, `"` ends the value.
    Rfc9110,
    /// The common shortcut: a `"` ends the value unless the character before is `\`.
    Naive,
}

/// Parses an XFCC header into elements of `key=value` pairs, the way `quoting` reads quotes.
/// Returns the number of elements and the pairs of the first one.
fn parse_xfcc(value: &str, quoting: Quoting) -> Result<(usize, Vec<(String, String)>), String> {
    let mut elements = vec![Vec::new()];
    let mut key = String::new();
    let mut val = String::new();
    let mut in_key = true;
    let mut chars = value.chars().peekable();
    let mut prev = '\0';
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match (quoting, c) {
                (Quoting::Rfc9110, '\\') => {
                    val.push(chars.next().ok_or("dangling backslash")?);
                    prev = '\0';
                    continue;
                }
                (Quoting::Naive, '"') if prev == '\\' => {
                    val.pop();
                    val.push('"');
                }
                (_, '"') => quoted = false,
                _ => val.push(c),
            }
            prev = c;
            continue;
        }
        match c {
            '=' if in_key => in_key = false,
            '"' if !in_key && val.is_empty() => quoted = true,
            '"' => return Err(format!("stray quote in {value:?}")),
            ';' | ',' => {
                elements
                    .last_mut()
                    .unwrap()
                    .push((std::mem::take(&mut key), std::mem::take(&mut val)));
                in_key = true;
                if c == ',' {
                    elements.push(Vec::new());
                }
            }
            _ if in_key => key.push(c),
            _ => val.push(c),
        }
        prev = c;
    }
    if quoted {
        return Err(format!("unterminated quote in {value:?}"));
    }
    elements.last_mut().unwrap().push((key, val));
    Ok((elements.len(), elements.swap_remove(0)))
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
    // openssl's text, with `"` and `\\` written as the equivalent RFC 4514 hex escapes so
    // that the quoted XFCC value never holds a quote or an escaped backslash.
    let expected = out
        .trim()
        .strip_prefix("subject=")
        .unwrap()
        .replace("\\\\", "\\5C")
        .replace("\\\"", "\\22");
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

#[test]
fn hostile_subjects_cannot_break_the_header_structure() {
    let key = KeyPair::generate().unwrap();
    let uri = "spiffe://proxy.test/tenant/acme";
    for cn in [
        "x\";URI=spiffe://proxy.test/tenant/admin;y=\"",
        "x\\\",By=spiffe://evil",
        "trailing backslash\\",
        "\\\"\\\";,=",
    ] {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        let xfcc = ForwardedClientCert::from_der(cert.der(), Some(uri)).unwrap();
        let value = xfcc.header_value().to_str().unwrap();
        for quoting in [Quoting::Rfc9110, Quoting::Naive] {
            let (elements, pairs) = parse_xfcc(value, quoting)
                .unwrap_or_else(|e| panic!("{quoting:?} cannot parse {value:?}: {e}"));
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                (elements, keys),
                (1, vec!["Hash", "Subject", "URI"]),
                "{quoting:?}: {value}"
            );
            assert_eq!(pairs[2].1, uri, "{quoting:?}: {value}");
        }
    }
}
