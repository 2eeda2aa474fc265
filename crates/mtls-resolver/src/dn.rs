//! Distinguished names: the matching key used to compare a server's acceptable CA names with
//! the issuers in our chains.
//!
//! Two encodings of "the same" X.500 name are common in the wild: a CA created by one tool
//! writes `PrintableString`, a server configured with another tool re-encodes its trust
//! anchors as `UTF8String`, or an operator types `O=Acme Corp` where the CA says
//! `O=ACME  Corp`. Byte equality fails on all of these while X.500 `caseIgnoreMatch`
//! (RFC 4517/4518) says the names are equal. So every name has two keys:
//!
//! - the raw DER (what rustls hands to the resolver, byte-equal to the CA's subject in the
//!   common case, and the only comparison that costs nothing extra), and
//! - a normalised key: each attribute's type OID plus, for string-typed values, the decoded
//!   text case-folded with leading/trailing white space removed and inner runs collapsed to
//!   one space (whatever the ASN.1 string type); attributes inside a multi-valued RDN are
//!   sorted. Values of non-string types keep their exact DER.
//!
//! The normalised key is an internal byte string: length-prefixed, so two different names
//! can never produce the same key by concatenation accidents.

use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::prelude::{FromDer, X509Name};

/// Marker byte for a string-typed attribute value in the normalised key.
const KIND_TEXT: u8 = 0;
/// Marker byte for an attribute value kept as raw DER in the normalised key.
const KIND_RAW: u8 = 1;

/// The normalised matching key of a DER-encoded `Name` (see the module doc), or `None` when
/// the bytes are not a `Name`.
///
/// A `Name` sent without its outer SEQUENCE (a few servers do this) is accepted too. An empty
/// `Name` has no normalised key: it can only match byte for byte.
pub(crate) fn normalized_key(der: &[u8]) -> Option<Box<[u8]>> {
    if der.is_empty() {
        return None;
    }
    if let Some(name) = parse_exact(der) {
        return key_of(&name);
    }
    // Retry as the contents of a SEQUENCE.
    let wrapped = wrap_in_sequence(der)?;
    parse_exact(&wrapped).and_then(|name| key_of(&name))
}

/// A human-readable, RFC 4514-like rendering of a DER `Name`, for diagnostics.
pub(crate) fn display_name(der: &[u8]) -> String {
    match parse_exact(der) {
        Some(name) => match name.to_string() {
            text if text.is_empty() => "<empty name>".to_owned(),
            text => text,
        },
        None => {
            let shown: String = der.iter().take(32).map(|b| format!("{b:02x}")).collect();
            let more = if der.len() > 32 { "…" } else { "" };
            format!("<unparseable name, {} bytes: {shown}{more}>", der.len())
        }
    }
}

/// Normalises one attribute's text: case-folded, white space trimmed and collapsed.
///
/// Folding is repeated until it is stable (bounded), so that normalising twice gives the same
/// text as normalising once.
pub(crate) fn normalize_text(text: &str) -> String {
    let mut folded = collapse_whitespace(&text.to_lowercase());
    for _ in 0..4 {
        let again = collapse_whitespace(&folded.to_lowercase());
        if again == folded {
            break;
        }
        folded = again;
    }
    folded
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn parse_exact(der: &[u8]) -> Option<X509Name<'_>> {
    match X509Name::from_der(der) {
        Ok(([], name)) => Some(name),
        _ => None,
    }
}

fn wrap_in_sequence(content: &[u8]) -> Option<Vec<u8>> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(0x30);
    if len < 0x80 {
        out.push(u8::try_from(len).ok()?);
    } else {
        let bytes = u32::try_from(len).ok()?.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).ok()?);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    Some(out)
}

fn key_of(name: &X509Name<'_>) -> Option<Box<[u8]>> {
    name.iter().next()?;
    let mut key = Vec::with_capacity(name.as_raw().len());
    for rdn in name.iter() {
        let mut attrs: Vec<Vec<u8>> = rdn
            .iter()
            .map(|attr| {
                let mut one = Vec::new();
                push_chunk(&mut one, attr.attr_type().as_bytes());
                match decode_text(attr.attr_value()) {
                    Some(text) => {
                        one.push(KIND_TEXT);
                        push_chunk(&mut one, normalize_text(&text).as_bytes());
                    }
                    None => {
                        one.push(KIND_RAW);
                        push_chunk(&mut one, attr.attr_value().as_bytes());
                    }
                }
                one
            })
            .collect();
        // A multi-valued RDN is a SET: its order carries no meaning.
        attrs.sort_unstable();
        key.push(b'R');
        push_len(&mut key, attrs.len());
        for attr in attrs {
            key.extend_from_slice(&attr);
        }
    }
    Some(key.into_boxed_slice())
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Names are far below 4 GiB; saturate rather than wrap if one is not.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn push_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    push_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Decodes the ASN.1 string types that appear in names; `None` for anything else, or for
/// bytes that are not valid in their declared type.
fn decode_text(value: &Any<'_>) -> Option<String> {
    if value.header.class() != Class::Universal || value.header.is_constructed() {
        return None;
    }
    let data = value.data;
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_owned),
        // T.61 in theory; Latin-1 in practice.
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            data.chunks_exact(4)
                .map(|quad| {
                    char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                })
                .collect()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
