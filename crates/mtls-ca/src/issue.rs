//! Issuing tenant client certificates and server certificates.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use mtls_identity::{AdminName, Fingerprint, Serial, TenantId, TrustDomain, admin_uri, tenant_uri};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    PublicKeyData, SanType,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::algorithm::private_key_pem;
use crate::authority::{CLOCK_SKEW, add_validity, rcgen_serial, seconds};
use crate::{CaError, CertificateAuthority, KeyAlgorithm};

/// Default validity of a tenant client certificate: 30 days.
pub const DEFAULT_CLIENT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Default validity of a server certificate: 365 days.
pub const DEFAULT_SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Longest validity of any leaf certificate: 825 days.
pub const MAX_LEAF_VALIDITY: Duration = Duration::from_secs(825 * 24 * 60 * 60);

/// What to put in a tenant's client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertRequest {
    /// The trust domain of the URI SAN.
    pub trust_domain: TrustDomain,
    /// The tenant: subject CN (unless a workload is given) and the URI SAN's tenant id.
    pub tenant: TenantId,
    /// The tenant's display name: subject O. 1 to 64 characters, no control characters.
    pub display_name: String,
    /// Optional workload name (validated like a tenant id): the URI SAN becomes
    /// `spiffe://<domain>/tenant/<id>/<workload>` and the subject CN the workload name.
    pub workload: Option<String>,
    /// Validity, from now. Default 30 days; 1 second to 825 days. Clamped to the
    /// issuing CA's expiry.
    pub validity: Duration,
    /// Algorithm of the key [`CertificateAuthority::issue_client`] generates. Ignored by
    /// [`CertificateAuthority::sign_csr`], which uses the CSR's key.
    pub key_algorithm: KeyAlgorithm,
}

// === impl ClientCertRequest ===

impl ClientCertRequest {
    /// A request with the defaults: no workload, 30 days, ECDSA P-256.
    pub fn new(
        trust_domain: TrustDomain,
        tenant: TenantId,
        display_name: impl Into<String>,
    ) -> Self {
        Self {
            trust_domain,
            tenant,
            display_name: display_name.into(),
            workload: None,
            validity: DEFAULT_CLIENT_VALIDITY,
            key_algorithm: KeyAlgorithm::default(),
        }
    }

    /// The URI SAN the certificate will carry.
    pub fn uri(&self) -> String {
        let base = tenant_uri(&self.trust_domain, &self.tenant);
        match &self.workload {
            Some(w) => format!("{base}/{w}"),
            None => base,
        }
    }
}

/// What to put in an admin's client certificate (for the control-plane API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCertRequest {
    /// The trust domain of the URI SAN.
    pub trust_domain: TrustDomain,
    /// The admin: subject CN and the URI SAN `spiffe://<domain>/admin/<name>`.
    pub admin: AdminName,
    /// Validity, from now. Default 30 days; 1 second to 825 days. Clamped to the issuing
    /// CA's expiry.
    pub validity: Duration,
    /// Algorithm of the generated key.
    pub key_algorithm: KeyAlgorithm,
}

// === impl AdminCertRequest ===

impl AdminCertRequest {
    /// A request with the defaults: 30 days, ECDSA P-256.
    pub fn new(trust_domain: TrustDomain, admin: AdminName) -> Self {
        Self {
            trust_domain,
            admin,
            validity: DEFAULT_CLIENT_VALIDITY,
            key_algorithm: KeyAlgorithm::default(),
        }
    }

    /// The URI SAN the certificate will carry.
    pub fn uri(&self) -> String {
        admin_uri(&self.trust_domain, &self.admin)
    }
}

/// What to put in a server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertRequest {
    /// DNS names (SANs); `*.example.com` wildcards are allowed. The first one is the CN.
    pub dns_names: Vec<String>,
    /// IP address SANs. The first one is the CN when there are no DNS names.
    pub ip_addresses: Vec<IpAddr>,
    /// Validity, from now. Default 365 days; 1 second to 825 days. Clamped to the
    /// issuing CA's expiry.
    pub validity: Duration,
    /// Algorithm of the generated key.
    pub key_algorithm: KeyAlgorithm,
}

// === impl ServerCertRequest ===

impl Default for ServerCertRequest {
    fn default() -> Self {
        Self {
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            validity: DEFAULT_SERVER_VALIDITY,
            key_algorithm: KeyAlgorithm::default(),
        }
    }
}

impl ServerCertRequest {
    /// A request for `dns_names` with the defaults: 365 days, ECDSA P-256.
    pub fn new<S: Into<String>>(dns_names: impl IntoIterator<Item = S>) -> Self {
        Self {
            dns_names: dns_names.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

/// A certificate the CA issued, with its key when the CA generated it.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate followed by the intermediate, if any: what `cert.pem` holds.
    pub chain_pem: String,
    /// The private key, PKCS#8 PEM; `None` when signed from a CSR. Wiped on drop and
    /// redacted from `Debug`.
    pub key_pem: Option<Zeroizing<String>>,
    /// The serial number (16 random octets).
    pub serial: Serial,
    /// SHA-256 of `cert_der`.
    pub fingerprint: Fingerprint,
    /// Start of validity (issuance time minus 5 minutes of clock skew).
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

// === impl IssuedCertificate ===

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("serial", &self.serial)
            .field("fingerprint", &self.fingerprint)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Validated leaf parameters, ready to sign.
pub(crate) struct Leaf {
    params: CertificateParams,
    serial: Serial,
}

// === impl CertificateAuthority ===

impl CertificateAuthority {
    /// Generates a key pair and issues a tenant client certificate for it.
    ///
    /// Profile: CN = tenant id (or workload), O = display name, URI SAN
    /// `spiffe://<domain>/tenant/<id>[/<workload>]`, EKU clientAuth only, critical key usage
    /// digitalSignature, `CA:FALSE`, SKI + AKI, random 16-octet serial, valid from 5 minutes
    /// ago. Signed by the issuing CA.
    pub fn issue_client(&self, req: &ClientCertRequest) -> Result<IssuedCertificate, CaError> {
        let leaf = self.client_leaf(req)?;
        let key = req.key_algorithm.generate()?;
        let key_pem = private_key_pem(&key)?;
        self.sign_leaf(leaf, &key, Some(key_pem))
    }

    /// Generates a key pair and issues an admin client certificate for it: CN = the admin
    /// name, O = `multi-mtls-proxy admins`, URI SAN `spiffe://<domain>/admin/<name>`, EKU
    /// clientAuth, otherwise the tenant profile. It never maps to a tenant, so the gateway
    /// refuses it; the control plane accepts it only while the registry records it unrevoked.
    pub fn issue_admin(&self, req: &AdminCertRequest) -> Result<IssuedCertificate, CaError> {
        let uri = req.uri();
        let uri = SanType::URI(uri.clone().try_into().map_err(|e: rcgen::Error| {
            CaError::InvalidRequest {
                field: "uri",
                value: uri,
                reason: e.to_string(),
            }
        })?);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, req.admin.as_str());
        dn.push(DnType::OrganizationName, "multi-mtls-proxy admins");
        let leaf = self.leaf(
            dn,
            vec![uri],
            ExtendedKeyUsagePurpose::ClientAuth,
            req.validity,
        )?;
        let key = req.key_algorithm.generate()?;
        let key_pem = private_key_pem(&key)?;
        self.sign_leaf(leaf, &key, Some(key_pem))
    }

    /// Generates a key pair and issues a server certificate for it.
    ///
    /// Same profile as a client certificate, but EKU serverAuth, DNS and IP SANs, and
    /// CN = the first DNS name (or IP address).
    pub fn issue_server(&self, req: &ServerCertRequest) -> Result<IssuedCertificate, CaError> {
        let leaf = self.server_leaf(req)?;
        let key = req.key_algorithm.generate()?;
        let key_pem = private_key_pem(&key)?;
        self.sign_leaf(leaf, &key, Some(key_pem))
    }

    pub(crate) fn client_leaf(&self, req: &ClientCertRequest) -> Result<Leaf, CaError> {
        check_display_name(&req.display_name)?;
        let common_name = match &req.workload {
            Some(w) => TenantId::try_new(w.as_str())
                .map_err(|source| CaError::InvalidWorkload {
                    workload: w.clone(),
                    source,
                })?
                .to_string(),
            None => req.tenant.to_string(),
        };
        let uri = req.uri();
        let uri = SanType::URI(uri.clone().try_into().map_err(|e: rcgen::Error| {
            CaError::InvalidRequest {
                field: "uri",
                value: uri,
                reason: e.to_string(),
            }
        })?);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, req.display_name.as_str());
        self.leaf(
            dn,
            vec![uri],
            ExtendedKeyUsagePurpose::ClientAuth,
            req.validity,
        )
    }

    fn server_leaf(&self, req: &ServerCertRequest) -> Result<Leaf, CaError> {
        let mut sans = Vec::with_capacity(req.dns_names.len() + req.ip_addresses.len());
        for name in &req.dns_names {
            check_dns_name(name)?;
            let ia5 =
                name.as_str()
                    .try_into()
                    .map_err(|e: rcgen::Error| CaError::InvalidRequest {
                        field: "dns_names",
                        value: name.clone(),
                        reason: e.to_string(),
                    })?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(req.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        let common_name = match (req.dns_names.first(), req.ip_addresses.first()) {
            (Some(dns), _) => dns.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Err(CaError::NoServerNames),
        };
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        self.leaf(dn, sans, ExtendedKeyUsagePurpose::ServerAuth, req.validity)
    }

    fn leaf(
        &self,
        dn: DistinguishedName,
        sans: Vec<SanType>,
        eku: ExtendedKeyUsagePurpose,
        validity: Duration,
    ) -> Result<Leaf, CaError> {
        if validity.is_zero() || validity > MAX_LEAF_VALIDITY {
            return Err(CaError::InvalidValidity {
                field: "validity",
                validity,
                reason: "must be between 1 second and 825 days",
            });
        }
        let now = OffsetDateTime::now_utc();
        let not_after = add_validity(now, validity, "validity")?.min(self.issuer_not_after());
        let serial = Serial::random();
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        // ExplicitNoCa writes basicConstraints CA:FALSE and the subject key identifier.
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        params.use_authority_key_identifier_extension = true;
        // rcgen would otherwise derive the serial from the public key: two certificates for
        // one key would share it, and revoking one would revoke both.
        params.serial_number = Some(rcgen_serial(&serial));
        params.not_before = seconds(now - CLOCK_SKEW);
        params.not_after = not_after;
        Ok(Leaf { params, serial })
    }

    /// Signs `leaf` for `public_key` with the issuing CA.
    pub(crate) fn sign_leaf(
        &self,
        leaf: Leaf,
        public_key: &impl PublicKeyData,
        key_pem: Option<Zeroizing<String>>,
    ) -> Result<IssuedCertificate, CaError> {
        let cert = leaf
            .params
            .signed_by(public_key, &self.issuer)
            .map_err(CaError::crypto("signing the certificate"))?;
        let cert_der = cert.der().to_vec();
        let cert_pem = cert.pem();
        let mut chain_pem = cert_pem.clone();
        if let Some(int) = &self.intermediate {
            chain_pem.push_str(&int.pem);
        }
        Ok(IssuedCertificate {
            fingerprint: Fingerprint::of_der(&cert_der),
            cert_der,
            cert_pem,
            chain_pem,
            key_pem,
            serial: leaf.serial,
            not_before: leaf.params.not_before,
            not_after: leaf.params.not_after,
        })
    }
}

fn check_display_name(name: &str) -> Result<(), CaError> {
    let reason = if name.trim().is_empty() {
        "must not be empty"
    } else if name.chars().count() > 64 {
        "must be at most 64 characters"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(CaError::InvalidRequest {
        field: "display_name",
        value: name.to_owned(),
        reason: reason.to_owned(),
    })
}

/// A DNS name: labels of letters, digits, `-` and `_`, optionally starting with `*.`.
fn check_dns_name(name: &str) -> Result<(), CaError> {
    let fail = |reason: &str| CaError::InvalidRequest {
        field: "dns_names",
        value: name.to_owned(),
        reason: reason.to_owned(),
    };
    let host = name.strip_prefix("*.").unwrap_or(name);
    if host.is_empty() {
        return Err(fail("is empty"));
    }
    if name.len() > 253 {
        return Err(fail("is longer than 253 characters"));
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(fail("has an empty label or one longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(
                "may only contain letters, digits, '-', '_' and '.' (and a leading '*.')",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(fail("has a label starting or ending with '-'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_certificates_name_an_admin_and_no_tenant() {
        let ca = CertificateAuthority::generate(&crate::CaConfig::default()).unwrap();
        let domain: TrustDomain = "proxy.test".parse().unwrap();
        let req = AdminCertRequest::new(domain.clone(), "alice".parse().unwrap());
        let issued = ca.issue_admin(&req).unwrap();
        let peer = mtls_identity::PeerIdentity::from_der(&issued.cert_der, Some(&domain)).unwrap();
        assert_eq!(peer.uris, ["spiffe://proxy.test/admin/alice"]);
        assert_eq!(
            peer.tenant, None,
            "an admin certificate must never map to a tenant"
        );
        assert_eq!(peer.common_name.as_deref(), Some("alice"));
        assert!(issued.key_pem.is_some());
    }

    #[test]
    fn display_names() {
        check_display_name("Acme Corp").unwrap();
        check_display_name(&"x".repeat(64)).unwrap();
        for bad in ["", "  ", "a\nb"] {
            assert!(check_display_name(bad).is_err(), "{bad:?}");
        }
        let err = check_display_name(&"é".repeat(65)).unwrap_err();
        assert!(err.to_string().contains("display_name"), "{err}");
    }

    #[test]
    fn dns_names() {
        for ok in [
            "localhost",
            "proxy.example.com",
            "*.example.com",
            "a_b.example",
        ] {
            check_dns_name(ok).unwrap();
        }
        for bad in [
            "",
            "*.",
            "a..b",
            "-a.example",
            "exa mple.com",
            "*.*.x",
            "a.b.",
            "ü.de",
        ] {
            assert!(check_dns_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_dns_name(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn validity_constants() {
        let day = 24 * 60 * 60;
        assert_eq!(MAX_LEAF_VALIDITY.as_secs(), 825 * day);
        assert_eq!(DEFAULT_CLIENT_VALIDITY.as_secs(), 30 * day);
        assert_eq!(DEFAULT_SERVER_VALIDITY.as_secs(), 365 * day);
    }
}
