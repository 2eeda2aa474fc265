//! [`PeerIdentity`]: the parts of a certificate that routing, ACLs and logs need.

use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{
    Fingerprint, Serial, SerialError, TenantId, TrustDomain, ValidityError, check_validity,
    tenant_from_uri,
};

/// Why a certificate could not be turned into a [`PeerIdentity`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not a DER-encoded X.509 certificate")]
    Malformed(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
    /// The bytes hold a certificate followed by something else.
    #[error("{0} unexpected bytes after the certificate")]
    TrailingBytes(usize),
    /// An extension could not be parsed.
    #[error("certificate extension could not be parsed")]
    BadExtension(#[source] x509_parser::error::X509Error),
    /// The serial number is zero or longer than RFC 5280 allows.
    #[error("certificate serial number is invalid")]
    BadSerial(#[source] SerialError),
    /// Two URI SANs under our trust domain name different tenants.
    #[error("certificate names more than one tenant: {first} and {second}")]
    AmbiguousTenant {
        /// The first tenant named.
        first: TenantId,
        /// Another tenant named.
        second: TenantId,
    },
}

/// What a certificate says about its holder.
///
/// Build it only from a certificate that has already been verified (by rustls or by the CA
/// that just issued it): this type parses, it does not judge trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Subject common name, if any (the first one when there are several).
    pub common_name: Option<String>,
    /// Subject organisation names (O).
    pub organizations: Vec<String>,
    /// Subject organisational unit names (OU).
    pub organizational_units: Vec<String>,
    /// DNS names from the subject alternative names.
    pub dns_names: Vec<String>,
    /// URIs from the subject alternative names.
    pub uris: Vec<String>,
    /// IP addresses from the subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// The issuer's distinguished name, in RFC 4514-like text form.
    pub issuer: String,
    /// The subject's distinguished name, in RFC 4514-like text form.
    pub subject: String,
    /// The serial number.
    pub serial: Serial,
    /// SHA-256 of the certificate DER.
    pub fingerprint: Fingerprint,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The tenant named by a URI SAN under the trust domain passed to
    /// [`PeerIdentity::from_der`], if any.
    pub tenant: Option<TenantId>,
}

// === impl PeerIdentity ===

impl PeerIdentity {
    /// Parses a DER certificate. When `trust_domain` is given, a URI SAN
    /// `spiffe://<trust_domain>/tenant/<id>[/...]` sets [`PeerIdentity::tenant`].
    pub fn from_der(der: &[u8], trust_domain: Option<&TrustDomain>) -> Result<Self, IdentityError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(IdentityError::Malformed)?;
        if !rest.is_empty() {
            return Err(IdentityError::TrailingBytes(rest.len()));
        }
        Self::from_parsed(&cert, der, trust_domain)
    }

    /// Like [`PeerIdentity::from_der`], for a certificate the caller has already parsed.
    pub fn from_parsed(
        cert: &X509Certificate<'_>,
        der: &[u8],
        trust_domain: Option<&TrustDomain>,
    ) -> Result<Self, IdentityError> {
        let subject = cert.subject();
        let text = |attr: Option<&x509_parser::x509::AttributeTypeAndValue<'_>>| {
            attr.and_then(|a| a.as_str().ok()).map(str::to_owned)
        };
        let common_name = text(subject.iter_common_name().next());
        let organizations = subject
            .iter_organization()
            .filter_map(|a| text(Some(a)))
            .collect();
        let organizational_units = subject
            .iter_organizational_unit()
            .filter_map(|a| text(Some(a)))
            .collect();

        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        let mut ip_addresses = Vec::new();
        if let Some(san) = cert
            .subject_alternative_name()
            .map_err(IdentityError::BadExtension)?
        {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => dns_names.push((*n).to_owned()),
                    GeneralName::URI(u) => uris.push((*u).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            ip_addresses.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            ip_addresses.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }

        let tenant = match trust_domain {
            Some(domain) => tenant_of(&uris, domain)?,
            None => None,
        };

        Ok(Self {
            common_name,
            organizations,
            organizational_units,
            dns_names,
            uris,
            ip_addresses,
            issuer: cert.issuer().to_string(),
            subject: subject.to_string(),
            serial: Serial::from_be_bytes(cert.raw_serial()).map_err(IdentityError::BadSerial)?,
            fingerprint: Fingerprint::of_der(der),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            tenant,
        })
    }

    /// The tenant a URI SAN `spiffe://<domain>/tenant/<id>[/...]` names, as
    /// [`PeerIdentity::from_der`] with `Some(domain)` would set [`PeerIdentity::tenant`]
    /// (an error if two URIs name different tenants), without parsing the certificate
    /// again: for an identity parsed before the trust domain was known.
    pub fn tenant_in(&self, domain: &TrustDomain) -> Result<Option<TenantId>, IdentityError> {
        tenant_of(&self.uris, domain)
    }

    /// Whether `now` falls inside the certificate's validity period.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.check_validity(now).is_ok()
    }

    /// Whether `now` falls inside the certificate's validity period, and if not, which end
    /// it is past ([`check_validity`]).
    pub fn check_validity(&self, now: OffsetDateTime) -> Result<(), ValidityError> {
        check_validity(self.not_before, self.not_after, now)
    }
}

/// The one tenant the URIs name under `domain`, if any.
fn tenant_of(uris: &[String], domain: &TrustDomain) -> Result<Option<TenantId>, IdentityError> {
    let mut tenant: Option<TenantId> = None;
    for uri in uris {
        if let Some(found) = tenant_from_uri(domain, uri) {
            match &tenant {
                Some(first) if *first != found => {
                    return Err(IdentityError::AmbiguousTenant {
                        first: first.clone(),
                        second: found,
                    });
                }
                _ => tenant = Some(found),
            }
        }
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, SanType,
    };

    use super::*;

    fn cert_with(uris: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "acme");
        dn.push(DnType::OrganizationName, "Acme Corp");
        dn.push(DnType::OrganizationalUnitName, "payments");
        params.distinguished_name = dn;
        params.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).try_into().unwrap()))
            .chain([
                SanType::DnsName("acme.example.test".try_into().unwrap()),
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
            ])
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(vec![0x00, 0x9a, 0x01].into());
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_names_and_tenant() {
        let domain = TrustDomain::try_new("example.test").unwrap();
        let der = cert_with(&["spiffe://example.test/tenant/acme"]);
        let id = PeerIdentity::from_der(&der, Some(&domain)).unwrap();
        assert_eq!(id.common_name.as_deref(), Some("acme"));
        assert_eq!(id.organizations, ["Acme Corp"]);
        assert_eq!(id.organizational_units, ["payments"]);
        assert_eq!(id.dns_names, ["acme.example.test"]);
        assert_eq!(id.uris, ["spiffe://example.test/tenant/acme"]);
        assert_eq!(id.ip_addresses, [IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(id.tenant, Some(TenantId::try_new("acme").unwrap()));
        assert_eq!(id.serial.to_string(), "9a01");
        assert_eq!(id.fingerprint, Fingerprint::of_der(&der));
        assert!(id.is_valid_at(OffsetDateTime::now_utc()));
        // Without a trust domain, or under another one, no tenant.
        assert_eq!(PeerIdentity::from_der(&der, None).unwrap().tenant, None);
        let other = TrustDomain::try_new("other.test").unwrap();
        assert_eq!(
            PeerIdentity::from_der(&der, Some(&other)).unwrap().tenant,
            None
        );
        // Parsed without a domain, the tenant is found later without a second parse.
        let parsed = PeerIdentity::from_der(&der, None).unwrap();
        assert_eq!(parsed.tenant_in(&domain).unwrap(), id.tenant);
        assert_eq!(parsed.tenant_in(&other).unwrap(), None);
    }

    #[test]
    fn two_tenants_in_one_cert_is_an_error() {
        let domain = TrustDomain::try_new("example.test").unwrap();
        let der = cert_with(&[
            "spiffe://example.test/tenant/acme",
            "spiffe://example.test/tenant/globex",
        ]);
        assert!(matches!(
            PeerIdentity::from_der(&der, Some(&domain)),
            Err(IdentityError::AmbiguousTenant { .. })
        ));
        let parsed = PeerIdentity::from_der(&der, None).unwrap();
        assert!(matches!(
            parsed.tenant_in(&domain),
            Err(IdentityError::AmbiguousTenant { .. })
        ));
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        assert!(PeerIdentity::from_der(b"", None).is_err());
        assert!(PeerIdentity::from_der(b"\x30\x03\x02\x01\x01", None).is_err());
        let mut der = cert_with(&[]);
        der.push(0);
        assert!(matches!(
            PeerIdentity::from_der(&der, None),
            Err(IdentityError::TrailingBytes(1))
        ));
    }
}
