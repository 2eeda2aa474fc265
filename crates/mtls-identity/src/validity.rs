//! [`ValidityError`]: whether a certificate is inside its validity period at a given time.

use time::OffsetDateTime;

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

#[cfg(test)]
mod tests {
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
}
