//! `mtls_http_proxy::ForwardedClientCert::from_der`, the `x-forwarded-client-cert` writer, on
//! a certificate whose subject (or whole DER) and URI come from the fuzzer.
//!
//! Byte 0 picks the mode: even = a certificate built around a fuzzed subject `Name` (attribute
//! types, ASN.1 string types and raw value bytes from the input, so the RFC 2253 escaping sees
//! every byte value); odd = the rest of the input as the certificate DER itself. The URI is
//! a fuzzed string, or a SPIFFE URI with a fuzzed path.
//!
//! Asserts, whenever a value is produced: it is one header-safe element (visible ASCII and
//! spaces only: no CR, LF, NUL or other control byte); a reader following RFC 9110's
//! quoted-string rule and a reader that ends a quoted value at the first `"` not preceded by
//! `\` both see exactly `Hash`, `Subject` and (when given) `URI`, in that order; `Hash` is the
//! SHA-256 of the DER; the URI reads back unchanged; the quoted Subject holds no `"` and only
//! well-formed RFC 4514 escapes; and for a built subject, its unescaped `,` and `+` are
//! exactly the RDN and multi-value separators of the `Name` that went in.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use mtls_http_proxy::ForwardedClientCert;
use mtls_identity::Fingerprint;

/// Attribute type OIDs (DER contents): CN, O, OU, C, serialNumber, DC, emailAddress, 1.2.3.4.
const OIDS: [&[u8]; 8] = [
    &[0x55, 0x04, 0x03],
    &[0x55, 0x04, 0x0a],
    &[0x55, 0x04, 0x0b],
    &[0x55, 0x04, 0x06],
    &[0x55, 0x04, 0x05],
    &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
    &[0x2a, 0x03, 0x04],
];
/// Value tags: UTF8String, PrintableString, IA5String, TeletexString, BMPString,
/// UniversalString, OCTET STRING (not a string type: written as `#hex`), INTEGER.
const TAGS: [u8; 8] = [0x0c, 0x13, 0x16, 0x14, 0x1e, 0x1c, 0x04, 0x02];

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A fuzzed `Name`: its DER and the number of attributes in each RDN.
fn name(u: &mut Unstructured<'_>) -> ArbResult<(Vec<u8>, Vec<usize>)> {
    let mut rdns = Vec::new();
    let mut shape = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let mut set = Vec::new();
        let attrs = u.int_in_range(1..=3)?;
        for _ in 0..attrs {
            let oid = OIDS[u.choose_index(OIDS.len())?];
            let tag = TAGS[u.choose_index(TAGS.len())?];
            let len = u.int_in_range(0..=24)?;
            let value = u.bytes(len)?;
            let mut atv = tlv(0x06, oid);
            atv.extend(tlv(tag, value));
            set.extend(tlv(0x30, &atv));
        }
        rdns.extend(tlv(0x31, &set));
        shape.push(attrs);
    }
    Ok((tlv(0x30, &rdns), shape))
}

/// A certificate around `subject`, with the fixture's public key; the signature is not
/// checked by the writer, so it is a placeholder.
fn certificate(subject: &[u8]) -> Vec<u8> {
    let spki = spki();
    let alg = tlv(
        0x30,
        &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let mut tbs = tlv(0xa0, &tlv(0x02, &[2]));
    tbs.extend(tlv(0x02, &[0x10, 0x01]));
    tbs.extend(&alg);
    let mut issuer_cn = tlv(0x06, &[0x55, 0x04, 0x03]);
    issuer_cn.extend(tlv(0x0c, b"issuer"));
    tbs.extend(tlv(0x30, &tlv(0x31, &tlv(0x30, &issuer_cn))));
    let mut validity = tlv(0x17, b"250101000000Z");
    validity.extend(tlv(0x17, b"350101000000Z"));
    tbs.extend(tlv(0x30, &validity));
    tbs.extend_from_slice(subject);
    tbs.extend_from_slice(spki);
    let mut cert = tlv(0x30, &tbs);
    cert.extend(&alg);
    cert.extend(tlv(
        0x03,
        &[0, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
    ));
    tlv(0x30, &cert)
}

/// The SubjectPublicKeyInfo of the fixture certificate.
fn spki() -> &'static [u8] {
    static SPKI: OnceLock<Vec<u8>> = OnceLock::new();
    SPKI.get_or_init(|| {
        let der: &[u8] = include_bytes!("../fixtures/acme.der");
        let (_, cert) = x509_parser::parse_x509_certificate(der).expect("fixture certificate");
        cert.tbs_certificate.subject_pki.raw.to_vec()
    })
}

fn uri(u: &mut Unstructured<'_>) -> ArbResult<Option<String>> {
    Ok(match u.int_in_range(0..=2)? {
        0 => None,
        1 => Some(u.arbitrary::<String>()?),
        _ => {
            let path: String = u.arbitrary()?;
            Some(format!("spiffe://proxy.test/tenant/{path}"))
        }
    })
}

#[derive(Clone, Copy, Debug)]
enum Quoting {
    Rfc9110,
    Naive,
}

/// Splits an XFCC value into elements of `(key, value)` pairs as a `quoting` reader would;
/// `None` when that reader finds it malformed.
fn read_xfcc(value: &str, quoting: Quoting) -> Option<Vec<Vec<(String, String)>>> {
    let mut elements = vec![Vec::new()];
    let (mut key, mut val) = (String::new(), String::new());
    let (mut in_key, mut quoted, mut prev) = (true, false, '\0');
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if quoted {
            match (quoting, c) {
                (Quoting::Rfc9110, '\\') => {
                    val.push(chars.next()?);
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
            '"' => return None,
            ';' | ',' => {
                elements
                    .last_mut()?
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
        return None;
    }
    elements.last_mut()?.push((key, val));
    Some(elements)
}

/// The raw text between `Subject="` and the next `"`.
fn raw_subject(value: &str) -> &str {
    let start = value.find(";Subject=\"").expect("Subject key") + ";Subject=\"".len();
    let len = value[start..].find('"').expect("closing quote");
    &value[start..start + len]
}

/// Checks RFC 4514 escapes and counts unescaped `,` and `+`.
fn separators(subject: &str) -> (usize, usize) {
    let bytes = subject.as_bytes();
    let (mut commas, mut pluses, mut i) = (0, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let next = *bytes.get(i + 1).expect("dangling backslash");
                assert!(
                    next != b'"' && next != b'\\',
                    "escaped quote or backslash in {subject:?}"
                );
                if b",+;<># ".contains(&next) {
                    i += 2;
                } else {
                    let pair = bytes.get(i + 1..i + 3).expect("short hex escape");
                    assert!(
                        pair.iter().all(u8::is_ascii_hexdigit),
                        "bad escape in {subject:?}"
                    );
                    i += 3;
                }
                continue;
            }
            b',' => commas += 1,
            b'+' => pluses += 1,
            _ => {}
        }
        i += 1;
    }
    (commas, pluses)
}

fn check(der: &[u8], uri: Option<&str>, shape: Option<&[usize]>) {
    let Ok(xfcc) = ForwardedClientCert::from_der(der, uri) else {
        return;
    };
    let bytes = xfcc.header_value().as_bytes();
    assert!(
        bytes.iter().all(|b| (0x20..0x7f).contains(b)),
        "not visible ASCII: {bytes:?}"
    );
    let value = std::str::from_utf8(bytes).expect("ASCII");
    for quoting in [Quoting::Rfc9110, Quoting::Naive] {
        let elements = read_xfcc(value, quoting)
            .unwrap_or_else(|| panic!("{quoting:?} reader cannot parse {value:?}"));
        assert_eq!(elements.len(), 1, "{quoting:?}: {value}");
        let pairs = &elements[0];
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let expected: &[&str] = if uri.is_some() {
            &["Hash", "Subject", "URI"]
        } else {
            &["Hash", "Subject"]
        };
        assert_eq!(keys, expected, "{quoting:?}: {value}");
        assert_eq!(pairs[0].1, Fingerprint::of_der(der).to_string(), "{value}");
        if let Some(uri) = uri {
            assert_eq!(pairs[2].1, uri, "{quoting:?}: {value}");
        }
    }
    let subject = raw_subject(value);
    let (commas, pluses) = separators(subject);
    if let Some(shape) = shape {
        let rdns = shape.len();
        assert_eq!(
            commas,
            rdns.saturating_sub(1),
            "RDN separators in {subject:?}"
        );
        let multi: usize = shape.iter().map(|attrs| attrs - 1).sum();
        assert_eq!(pluses, multi, "multi-value separators in {subject:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let Ok(uri) = uri(&mut u) else {
        return;
    };
    if mode % 2 == 0 {
        let Ok((subject, shape)) = name(&mut u) else {
            return;
        };
        check(&certificate(&subject), uri.as_deref(), Some(&shape));
    } else {
        check(u.take_rest(), uri.as_deref(), None);
    }
});
