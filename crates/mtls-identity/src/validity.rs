//! [`ValidityError`]: whether a certificate is inside its validity period at a given time;
//! [`validity_of_der`]: a certificate's validity period, read without parsing the rest.

use time::OffsetDateTime;
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
    let (cert, _) = der_element(der, 0x30)?;
    // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    //                               validity, ... }
    let (mut tbs, _) = der_element(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs, 0xa0)?.1;
    }
    let (_, rest) = der_element(tbs, 0x02)?; // serialNumber
    let (_, rest) = der_element(rest, 0x30)?; // signature AlgorithmIdentifier
    let (_, rest) = der_element(rest, 0x30)?; // issuer Name
    let (_, validity) = Validity::from_der(rest).map_err(|_| ValidityReadError::Malformed)?;
    Ok((
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    ))
}

/// Splits the DER element with tag `tag` at the start of `input` into its contents and what
/// follows it (definite lengths only, as DER requires).
fn der_element(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), ValidityReadError> {
    let malformed = ValidityReadError::Malformed;
    let (&found, rest) = input.split_first().ok_or(malformed)?;
    if found != tag {
        return Err(malformed);
    }
    let (&first, mut rest) = rest.split_first().ok_or(malformed)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7f);
        // 0x80 is the indefinite form (not DER); more than 4 octets is no certificate.
        if octets == 0 || octets > 4 || rest.len() < octets {
            return Err(malformed);
        }
        let (bytes, after) = rest.split_at(octets);
        rest = after;
        bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return Err(malformed);
    }
    Ok(rest.split_at(len))
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
