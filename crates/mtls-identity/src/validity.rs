//! [`ValidityError`]: whether a certificate is inside its validity period at a given time;
//! [`validity_of_der`]: a certificate's validity period, read without parsing the rest.

use time::OffsetDateTime;
use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::certificate::Validity;
use x509_parser::prelude::FromDer;

/// Why a certificate is not valid at a given time. Checked after every handshake, resumed
/// ones included: rustls does not verify a resumed session's certificate again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidityError {
    /// The validity period has ended.
    #[error("the certificate expired at {not_after}")]
    Expired {
        /// The certificate's notAfter.
        not_after: OffsetDateTime,
    },
    /// The validity period has not started.
    #[error("the certificate is not valid before {not_before}")]
    NotYetValid {
        /// The certificate's notBefore.
        not_before: OffsetDateTime,
    },
}

// === impl ValidityError ===

impl ValidityError {
    /// A short `snake_case` name for logs and metric labels: `certificate_expired` or
    /// `certificate_not_yet_valid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired { .. } => "certificate_expired",
            Self::NotYetValid { .. } => "certificate_not_yet_valid",
        }
    }
}

/// Whether `now` falls inside `not_before ..= not_after` (both ends valid, as in RFC 5280).
pub fn check_validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ValidityError> {
    if now > not_after {
        Err(ValidityError::Expired { not_after })
    } else if now < not_before {
        Err(ValidityError::NotYetValid { not_before })
    } else {
        Ok(())
    }
}

/// Why [`validity_of_der`] could not read a certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidityReadError {
    /// The bytes are not the start of a DER X.509 certificate up to its validity field.
    #[error("not a DER-encoded X.509 certificate")]
    Malformed,
}

/// The validity period (`notBefore`, `notAfter`) of the DER certificate `der`, read by
/// walking the outer DER structure to the `validity` field of `tbsCertificate` and parsing
/// only that: no names, extensions or digest are touched, so it is cheap enough for every
/// handshake (the session cache and the verified-chain cache read every stored chain with
/// it). It does not check that the rest of the certificate is well formed: call it on
/// certificates a verifier accepts (or has accepted), and treat an error as "do not use".
pub fn validity_of_der(der: &[u8]) -> Result<(OffsetDateTime, OffsetDateTime), ValidityReadError> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let universal = |tag| move |input| der_element(input, Class::Universal, tag);
    let (sequence, integer) = (universal(Tag::Sequence), universal(Tag::Integer));
    let (cert, _) = sequence(der)?;
    // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    //                               validity, ... }
    let (mut tbs, _) = sequence(cert)?;
    if let Ok((_, after_version)) = der_element(tbs, Class::ContextSpecific, Tag(0)) {
        tbs = after_version;
    }
    let (_, rest) = integer(tbs)?; // serialNumber
    let (_, rest) = sequence(rest)?; // signature AlgorithmIdentifier
    let (_, rest) = sequence(rest)?; // issuer Name
    let (_, validity) = Validity::from_der(rest).map_err(|_| ValidityReadError::Malformed)?;
    Ok((
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    ))
}

/// Splits the DER element of class `class` and tag `tag` at the start of `input` into its
/// contents and what follows it (asn1-rs' DER reader: definite lengths only).
fn der_element(input: &[u8], class: Class, tag: Tag) -> Result<(&[u8], &[u8]), ValidityReadError> {
    let (rest, element) = Any::from_der(input).map_err(|_| ValidityReadError::Malformed)?;
    if element.class() != class || element.tag() != tag {
        return Err(ValidityReadError::Malformed);
    }
    Ok((element.data, rest))
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair};
    use time::Duration;

    use super::*;

    #[test]
    fn both_ends_are_inside_the_period() {
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let end = start + Duration::hours(1);
        assert_eq!(check_validity(start, end, start), Ok(()));
        assert_eq!(check_validity(start, end, end), Ok(()));
        let late = end + Duration::milliseconds(1);
        assert_eq!(
            check_validity(start, end, late),
            Err(ValidityError::Expired { not_after: end })
        );
        let early = start - Duration::milliseconds(1);
        assert_eq!(
            check_validity(start, end, early),
            Err(ValidityError::NotYetValid { not_before: start })
        );
        assert_eq!(
            check_validity(start, end, late).unwrap_err().as_str(),
            "certificate_expired"
        );
        assert_eq!(
            check_validity(start, end, early).unwrap_err().as_str(),
            "certificate_not_yet_valid"
        );
    }

    #[test]
    fn validity_is_read_from_the_der_without_a_full_parse() {
        let mut params = CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        params.not_before = start;
        // A notAfter past 2049 is a GeneralizedTime, before it a UTCTime: read both.
        params.not_after = OffsetDateTime::UNIX_EPOCH + Duration::days(30_000);
        params.serial_number = Some(vec![0x01, 0x02, 0x03].into());
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        assert_eq!(
            validity_of_der(&der),
            Ok((start, OffsetDateTime::UNIX_EPOCH + Duration::days(30_000)))
        );
        // The same answer as the full parse.
        let full = crate::PeerIdentity::from_der(&der, None).unwrap();
        assert_eq!(validity_of_der(&der), Ok((full.not_before, full.not_after)));
        // Truncated or foreign bytes are an error, never a panic.
        for end in [0, 1, 2, 10, 40, 120] {
            assert_eq!(
                validity_of_der(&der[..end.min(der.len())]),
                Err(ValidityReadError::Malformed),
                "{end}"
            );
        }
        assert_eq!(
            validity_of_der(b"\x30\x80\x00\x00"),
            Err(ValidityReadError::Malformed)
        );
        assert_eq!(
            validity_of_der(b"\x04\x01\x00"),
            Err(ValidityReadError::Malformed)
        );
    }
}
