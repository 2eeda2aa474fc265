//! Certificate revocation lists.

use std::fmt;

use mtls_identity::{RevocationReason, Serial};
use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use crate::authority::{rcgen_serial, seconds};
use crate::{CaError, CertificateAuthority};

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Its serial number.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why. `Unspecified` is written as no reason code, as RFC 5280 §5.3.1 asks.
    pub reason: RevocationReason,
}

/// What a CRL should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRequest {
    /// The CRL number: must grow with each CRL this CA publishes.
    pub number: u64,
    /// Issue time.
    pub this_update: OffsetDateTime,
    /// When the next CRL will be published; must be after `this_update`.
    pub next_update: OffsetDateTime,
    /// The revoked certificates.
    pub revoked: Vec<RevokedCertificate>,
}

/// A signed CRL.
#[derive(Clone, PartialEq, Eq)]
pub struct Crl {
    /// DER encoding.
    pub der: Vec<u8>,
    /// PEM encoding (`X509 CRL`).
    pub pem: String,
}

// === impl Crl ===

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("der_len", &self.der.len())
            .finish_non_exhaustive()
    }
}

// === impl CertificateAuthority ===

impl CertificateAuthority {
    /// Signs a CRL (v2) with the issuing CA, with the CRL number, the authority key
    /// identifier, and a reason code on each entry whose reason is not `Unspecified`.
    pub fn crl(&self, req: &CrlRequest) -> Result<Crl, CaError> {
        if req.next_update <= req.this_update {
            return Err(CaError::InvalidCrl {
                reason: format!(
                    "next_update ({}) must be after this_update ({})",
                    req.next_update, req.this_update
                ),
            });
        }
        let key_identifier_method = match &self.issuing().subject_key_id {
            // The AKI must equal the issuing certificate's SKI, whatever method made it.
            Some(ski) => KeyIdMethod::PreSpecified(ski.clone()),
            None => KeyIdMethod::Sha256,
        };
        let params = CertificateRevocationListParams {
            this_update: seconds(req.this_update),
            next_update: seconds(req.next_update),
            crl_number: SerialNumber::from_slice(&req.number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: req
                .revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: rcgen_serial(&r.serial),
                    revocation_time: seconds(r.revoked_at),
                    reason_code: Some(reason(r.reason)),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method,
        };
        let crl = params
            .signed_by(&self.issuer)
            .map_err(CaError::crypto("signing the CRL"))?;
        Ok(Crl {
            der: crl.der().to_vec(),
            pem: crate::pem::encode("X509 CRL", crl.der()),
        })
    }
}

fn reason(r: RevocationReason) -> rcgen::RevocationReason {
    use rcgen::RevocationReason as R;
    match r.code() {
        1 => R::KeyCompromise,
        2 => R::CaCompromise,
        3 => R::AffiliationChanged,
        4 => R::Superseded,
        5 => R::CessationOfOperation,
        6 => R::CertificateHold,
        8 => R::RemoveFromCrl,
        9 => R::PrivilegeWithdrawn,
        10 => R::AaCompromise,
        _ => R::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_match_rfc_5280() {
        for r in RevocationReason::ALL {
            assert_eq!(reason(r) as u8, r.code(), "{r}");
        }
    }
}
