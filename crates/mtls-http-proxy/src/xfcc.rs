//! `x-forwarded-client-cert` in Envoy's format, computed once per connection.
//!
//! Envoy's rules: an element is `;`-separated `Key=value` pairs; a value containing `,`, `;`,
//! `=` or `"` is double-quoted, with `"` written `\"`. Envoy always quotes `Subject`, and
//! writes the subject distinguished name in RFC 2253 form (most specific RDN first, `,`
//! between RDNs, `+` inside one, OpenSSL's short attribute names, special characters escaped
//! with `\`, control and non-ASCII bytes as `\XX`), which is exactly
//! `openssl x509 -subject -nameopt RFC2253`.
//!
//! We send one element: `Hash=<sha256 hex of the DER>;Subject="<DN>";URI=<spiffe uri>`.
//!
//! One deviation keeps the element unambiguous for every reader: inside the quoted
//! `Subject`, a `"` or `\` from the certificate is written as its RFC 4514 hex escape
//! (`\22`, `\5C`) instead of `\"` and `\\`. A DN parser reads both forms as the same
//! character, but a reader that ends a quoted value at the first `"` not preceded by `\`
//! and one that follows RFC 9110's quoted-pair rule (`\` escapes the next character) now
//! agree on where the Subject ends, so a certificate subject like
//! `CN=x";URI=spiffe://…/admin` cannot add or change a key. Subjects without `"` or `\`
//! (nearly all) are byte for byte what Envoy and `openssl -nameopt RFC2253` print. The URI
//! must not contain `"`, `\` or anything but visible ASCII (a URI never does): such a URI is
//! refused with [`ClientCertError::BadUri`].

use std::fmt::Write as _;

use http::HeaderValue;
use mtls_identity::Fingerprint;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Why a client certificate could not be turned into an `x-forwarded-client-cert` value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCertError {
    /// The bytes are not a DER X.509 certificate.
    #[error("client certificate is not a DER-encoded X.509 certificate")]
    Malformed(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
    /// The URI contains characters that cannot appear in a header value.
    #[error("client certificate URI {uri:?} cannot be sent in a header")]
    BadUri {
        /// The URI.
        uri: String,
    },
}

/// A ready `x-forwarded-client-cert` value for one client certificate.
///
/// Build it once per connection (it parses the certificate); cloning is cheap.
///
/// ```
/// # use mtls_http_proxy::ForwardedClientCert;
/// # let key = rcgen::KeyPair::generate().unwrap();
/// # let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
/// # params.distinguished_name.push(rcgen::DnType::CommonName, "acme");
/// # params.distinguished_name.push(rcgen::DnType::OrganizationName, "Acme, Inc.");
/// # let der = params.self_signed(&key).unwrap().der().to_vec();
/// let xfcc = ForwardedClientCert::from_der(&der, Some("spiffe://proxy.test/tenant/acme"))?;
/// let value = xfcc.header_value().to_str()?;
/// assert!(value.starts_with("Hash="));
/// assert!(value.ends_with(r#";Subject="O=Acme\, Inc.,CN=acme";URI=spiffe://proxy.test/tenant/acme"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedClientCert {
    value: HeaderValue,
}

// === impl ForwardedClientCert ===

impl ForwardedClientCert {
    /// Builds the value from the client certificate's DER and the URI to report (the
    /// tenant's SPIFFE URI; `None` leaves the `URI` key out).
    pub fn from_der(der: &[u8], uri: Option<&str>) -> Result<Self, ClientCertError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(ClientCertError::Malformed)?;
        let bad_uri = |uri: &str| ClientCertError::BadUri {
            uri: uri.to_owned(),
        };
        let mut text = format!("Hash={}", Fingerprint::of_der(der));
        text.push_str(";Subject=\"");
        write_name(&mut text, cert.subject(), true);
        text.push('"');
        if let Some(uri) = uri {
            if !uri
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                return Err(bad_uri(uri));
            }
            text.push_str(";URI=");
            text.push_str(&quote_value(uri));
        }
        let value = HeaderValue::try_from(text).map_err(|_| bad_uri(uri.unwrap_or_default()))?;
        Ok(Self { value })
    }

    /// The header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }
}

/// Envoy's quoting: values with `,`, `;` or `=` are quoted. (Callers never pass `"` or
/// `\`: a URI with them is refused.)
pub(crate) fn quote_value(value: &str) -> String {
    if value.contains([',', ';', '=']) {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// Appends `name` in RFC 2253 form, as OpenSSL's `XN_FLAG_RFC2253` prints it; with `quote_safe`, `"` and `\` in values are written
/// as `\22` and `\5C` (see the module docs).
fn write_name(out: &mut String, name: &X509Name<'_>, quote_safe: bool) {
    let rdns: Vec<_> = name.iter().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(out, attr, quote_safe);
        }
    }
}

fn write_attribute(out: &mut String, attr: &AttributeTypeAndValue<'_>, quote_safe: bool) {
    let oid = attr.attr_type().to_id_string();
    out.push_str(short_name(&oid).unwrap_or(&oid));
    out.push('=');
    match attr.as_str() {
        Ok(text) => escape_rfc2253(out, text.as_bytes(), quote_safe),
        Err(_) => {
            // Not a string type: OpenSSL dumps the DER encoding as `#hex`.
            out.push('#');
            let value = attr.attr_value();
            let mut der = vec![value.tag().0 as u8];
            let len = value.data.len();
            if len < 0x80 {
                der.push(len as u8);
            } else {
                let bytes = len.to_be_bytes();
                let skip = bytes.iter().take_while(|b| **b == 0).count();
                der.push(0x80 | (bytes.len() - skip) as u8);
                der.extend_from_slice(&bytes[skip..]);
            }
            der.extend_from_slice(value.data);
            for b in der {
                let _ = write!(out, "{b:02X}");
            }
        }
    }
}

/// OpenSSL's short names for the attributes client certificates carry.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// RFC 2253 escaping with OpenSSL's `ESC_CTRL | ESC_MSB`: `,+"\<>;` get a backslash, as do
/// a leading `#` or space and a trailing space; control and non-ASCII bytes become `\XX`.
/// With `quote_safe`, `"` and `\` become `\22` and `\5C` instead.
fn escape_rfc2253(out: &mut String, bytes: &[u8], quote_safe: bool) {
    let last = bytes.len().saturating_sub(1);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' | b'\\' if quote_safe => {
                let _ = write!(out, "\\{b:02X}");
            }
            b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' => {
                out.push('\\');
                out.push(b as char);
            }
            b'#' if i == 0 => out.push_str("\\#"),
            b' ' if i == 0 || i == last => out.push_str("\\ "),
            0..0x20 | 0x7f.. => {
                let _ = write!(out, "\\{b:02X}");
            }
            _ => out.push(b as char),
        }
    }
}
