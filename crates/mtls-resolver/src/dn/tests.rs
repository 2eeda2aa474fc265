use proptest::prelude::*;

use super::*;

/// OIDs (DER content bytes) of the attributes the tests use.
const CN: &[u8] = &[0x55, 0x04, 0x03];
const O: &[u8] = &[0x55, 0x04, 0x0a];
const OU: &[u8] = &[0x55, 0x04, 0x0b];
const C: &[u8] = &[0x55, 0x04, 0x06];

/// String encodings a name attribute can use.
#[derive(Clone, Copy, Debug)]
enum Enc {
    Utf8,
    Printable,
    Bmp,
    Teletex,
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn value(enc: Enc, text: &str) -> Vec<u8> {
    match enc {
        Enc::Utf8 => tlv(0x0c, text.as_bytes()),
        Enc::Printable => tlv(0x13, text.as_bytes()),
        Enc::Teletex => tlv(0x14, &text.chars().map(|c| c as u8).collect::<Vec<_>>()),
        Enc::Bmp => tlv(
            0x1e,
            &text
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<_>>(),
        ),
    }
}

/// DER `Name` from RDNs, each a list of (OID, encoding, text).
fn name(rdns: &[&[(&[u8], Enc, &str)]]) -> Vec<u8> {
    let mut seq = Vec::new();
    for rdn in rdns {
        let mut set = Vec::new();
        for (oid, enc, text) in rdn.iter() {
            let mut atv = tlv(0x06, oid);
            atv.extend(value(*enc, text));
            set.extend(tlv(0x30, &atv));
        }
        seq.extend(tlv(0x31, &set));
    }
    tlv(0x30, &seq)
}

#[test]
fn printable_and_utf8_encodings_match() {
    let printable = name(&[
        &[(C, Enc::Printable, "DE")],
        &[(O, Enc::Printable, "Acme Corp")],
        &[(CN, Enc::Printable, "Acme Root CA")],
    ]);
    let utf8 = name(&[
        &[(C, Enc::Utf8, "DE")],
        &[(O, Enc::Utf8, "Acme Corp")],
        &[(CN, Enc::Utf8, "Acme Root CA")],
    ]);
    assert_ne!(printable, utf8, "the encodings differ byte-wise");
    assert_eq!(normalized_key(&printable), normalized_key(&utf8));
    assert!(normalized_key(&printable).is_some());
}

#[test]
fn case_and_whitespace_are_folded() {
    let a = name(&[&[(CN, Enc::Utf8, "  ACME   Root\tCA ")]]);
    let b = name(&[&[(CN, Enc::Bmp, "acme root ca")]]);
    assert_eq!(normalized_key(&a), normalized_key(&b));
}

#[test]
fn different_names_differ() {
    let a = name(&[&[(CN, Enc::Utf8, "Acme Root CA")]]);
    let b = name(&[&[(CN, Enc::Utf8, "Acme Root CA 2")]]);
    let c = name(&[&[(O, Enc::Utf8, "Acme Root CA")]]);
    // Same texts split differently across RDNs.
    let d = name(&[&[(CN, Enc::Utf8, "a")], &[(CN, Enc::Utf8, "b")]]);
    let e = name(&[&[(CN, Enc::Utf8, "a"), (CN, Enc::Utf8, "b")]]);
    let keys = [&a, &b, &c, &d, &e].map(|n| normalized_key(n).unwrap());
    for (i, x) in keys.iter().enumerate() {
        for y in &keys[i + 1..] {
            assert_ne!(x, y);
        }
    }
}

#[test]
fn multi_valued_rdn_order_is_ignored() {
    let a = name(&[&[(O, Enc::Utf8, "Acme"), (OU, Enc::Utf8, "Payments")]]);
    let b = name(&[&[(OU, Enc::Printable, "payments"), (O, Enc::Utf8, "ACME")]]);
    assert_eq!(normalized_key(&a), normalized_key(&b));
}

#[test]
fn name_without_outer_sequence_is_accepted() {
    let full = name(&[&[(CN, Enc::Utf8, "Acme Root CA")]]);
    // Strip the outer SEQUENCE header (short length form).
    let content = &full[2..];
    assert_eq!(normalized_key(content), normalized_key(&full));
}

#[test]
fn garbage_has_no_key_and_displays_safely() {
    assert_eq!(normalized_key(b""), None);
    assert_eq!(normalized_key(b"\x04\x02hi"), None);
    // An empty Name only ever matches byte for byte.
    assert_eq!(normalized_key(&[0x30, 0x00]), None);
    assert!(display_name(b"\x04\x02hi").starts_with("<unparseable name, 4 bytes: 04026869"));
    let ok = name(&[&[(CN, Enc::Utf8, "Acme Root CA")]]);
    assert_eq!(display_name(&ok), "CN=Acme Root CA");
}

#[test]
fn non_string_values_compare_exactly() {
    // An OCTET STRING value is not text: kept as raw DER.
    let mut atv = tlv(0x06, CN);
    atv.extend(tlv(0x04, b"Acme"));
    let raw = tlv(0x30, &tlv(0x31, &tlv(0x30, &atv)));
    let text = name(&[&[(CN, Enc::Utf8, "Acme")]]);
    assert!(normalized_key(&raw).is_some());
    assert_ne!(normalized_key(&raw), normalized_key(&text));
}

fn printable_text() -> impl Strategy<Value = String> {
    // PrintableString's alphabet.
    "[A-Za-z0-9 '()+,./:=?-]{1,40}"
}

fn attr_oid() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![Just(CN), Just(O), Just(OU), Just(C)]
}

proptest! {
    #[test]
    fn normalize_text_is_idempotent(text in any::<String>()) {
        let once = normalize_text(&text);
        prop_assert_eq!(normalize_text(&once), once.clone());
    }

    #[test]
    fn normalized_key_is_idempotent(
        attrs in prop::collection::vec((attr_oid(), any::<String>()), 1..5)
    ) {
        // Re-encoding a name from its normalised texts gives the same key.
        let original: Vec<(&[u8], Enc, &str)> =
            attrs.iter().map(|(oid, t)| (*oid, Enc::Utf8, t.as_str())).collect();
        let normalized: Vec<(&[u8], String)> =
            attrs.iter().map(|(oid, t)| (*oid, normalize_text(t))).collect();
        let renormalized: Vec<(&[u8], Enc, &str)> =
            normalized.iter().map(|(oid, t)| (*oid, Enc::Utf8, t.as_str())).collect();
        let a: Vec<&[(&[u8], Enc, &str)]> = original.iter().map(std::slice::from_ref).collect();
        let b: Vec<&[(&[u8], Enc, &str)]> =
            renormalized.iter().map(std::slice::from_ref).collect();
        let ka = normalized_key(&name(&a));
        prop_assert!(ka.is_some());
        prop_assert_eq!(ka, normalized_key(&name(&b)));
    }

    #[test]
    fn same_name_in_any_string_encoding_has_one_key(
        attrs in prop::collection::vec((attr_oid(), printable_text()), 1..5),
        encodings in prop::collection::vec(
            prop_oneof![Just(Enc::Utf8), Just(Enc::Printable), Just(Enc::Bmp), Just(Enc::Teletex)],
            5,
        ),
        upper in any::<bool>(),
    ) {
        let utf8: Vec<(&[u8], Enc, &str)> =
            attrs.iter().map(|(oid, t)| (*oid, Enc::Utf8, t.as_str())).collect();
        let cased: Vec<String> = attrs
            .iter()
            .map(|(_, t)| if upper { t.to_uppercase() } else { t.to_lowercase() })
            .collect();
        let mixed: Vec<(&[u8], Enc, &str)> = attrs
            .iter()
            .zip(&cased)
            .zip(&encodings)
            .map(|(((oid, _), t), enc)| (*oid, *enc, t.as_str()))
            .collect();
        let a: Vec<&[(&[u8], Enc, &str)]> = utf8.iter().map(std::slice::from_ref).collect();
        let b: Vec<&[(&[u8], Enc, &str)]> = mixed.iter().map(std::slice::from_ref).collect();
        let ka = normalized_key(&name(&a));
        prop_assert!(ka.is_some());
        prop_assert_eq!(ka, normalized_key(&name(&b)));
    }
}
