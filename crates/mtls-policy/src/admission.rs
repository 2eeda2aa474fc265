//! Admission: may this verified client certificate use the gateway right now?

use std::fmt;

use mtls_identity::{PeerIdentity, TenantId, ValidityError, admin_from_uri};
use mtls_registry::{Refusal, Snapshot, SnapshotTenant};
use time::OffsetDateTime;

/// Why a connection was refused admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdmissionRefusal {
    /// The handshake produced no client certificate.
    NoCertificate,
    /// The client certificate could not be parsed.
    UnreadableCertificate,
    /// No URI SAN of the certificate names a tenant under the registry's trust domain.
    NoTenant,
    /// The certificate is an admin's (`spiffe://<trust-domain>/admin/<name>`): admins use
    /// the control-plane API, they are not tenants and have no routes.
    AdminCertificate,
    /// The certificate's validity period has ended (possible on a resumed TLS session, which
    /// rustls does not verify again).
    CertificateExpired,
    /// The certificate's validity period has not started.
    CertificateNotYetValid,
    /// The registry refuses the tenant or the certificate.
    Registry(Refusal),
}

// === impl AdmissionRefusal ===

impl AdmissionRefusal {
    /// A short `snake_case` label, usable as a metric label value. The first three share
    /// `no_tenant`: to the operator they are one thing (the peer is not a tenant). An admin
    /// certificate is `admin_certificate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoCertificate | Self::UnreadableCertificate | Self::NoTenant => "no_tenant",
            Self::AdminCertificate => "admin_certificate",
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateNotYetValid => "certificate_not_yet_valid",
            Self::Registry(refusal) => refusal.as_str(),
        }
    }

    /// The registry's refusal, if that is what this is.
    pub fn registry(self) -> Option<Refusal> {
        match self {
            Self::Registry(refusal) => Some(refusal),
            _ => None,
        }
    }
}

impl fmt::Display for AdmissionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused admission: the reason, what was learnt of the certificate, and a sentence for
/// logs and `tenantctl explain`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct Refused {
    /// Why.
    pub reason: AdmissionRefusal,
    /// The certificate, when it could be read.
    pub identity: Option<Box<PeerIdentity>>,
    /// What exactly was wrong, in words (names the trust domain, the tenant, the dates).
    pub detail: String,
}

// === impl Refused ===

impl Refused {
    /// The tenant the certificate names, if it names one.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.identity.as_ref().and_then(|i| i.tenant.as_ref())
    }
}

/// An admitted connection: who it is.
#[derive(Debug, Clone)]
pub struct Admitted<'s> {
    /// The tenant, from the certificate's URI SAN.
    pub tenant: TenantId,
    /// The certificate.
    pub identity: PeerIdentity,
    /// The tenant as the snapshot knows it (status, limits).
    pub entry: &'s SnapshotTenant,
}

/// The admission decision for the client certificate `leaf_der` (DER, already verified by
/// the TLS handshake against the proxy's CA) at `now`, against `snapshot`.
///
/// Checks, in order: a certificate was presented and parses; it is inside its validity
/// period at `now` (a resumed TLS session skips the handshake's check); a URI SAN names a
/// tenant under the snapshot's trust domain (an admin's certificate is refused as
/// [`AdmissionRefusal::AdminCertificate`]); the registry admits the tenant and serial
/// ([`Snapshot::admit`]: known, active, the tenant's own certificate, not revoked).
pub fn admit<'s>(
    snapshot: &'s Snapshot,
    leaf_der: Option<&[u8]>,
    now: OffsetDateTime,
) -> Result<Admitted<'s>, Refused> {
    let refuse = |reason, identity: Option<&PeerIdentity>, detail: String| Refused {
        reason,
        identity: identity.map(|i| Box::new(i.clone())),
        detail,
    };
    let Some(der) = leaf_der else {
        return Err(refuse(
            AdmissionRefusal::NoCertificate,
            None,
            "no client certificate".to_owned(),
        ));
    };
    let identity = PeerIdentity::from_der(der, Some(snapshot.trust_domain())).map_err(|e| {
        refuse(
            AdmissionRefusal::UnreadableCertificate,
            None,
            format!("the client certificate cannot be read: {e}"),
        )
    })?;
    // The one validity check (mtls-identity's), as server and bridge listeners run it.
    if let Err(invalid) = identity.check_validity(now) {
        let detail = format!("{invalid} (serial {})", identity.serial);
        return Err(refuse(validity_refusal(invalid), Some(&identity), detail));
    }
    let Some(tenant) = identity.tenant.clone() else {
        let domain = snapshot.trust_domain();
        if let Some((uri, admin)) = identity
            .uris
            .iter()
            .find_map(|uri| admin_from_uri(domain, uri).map(|admin| (uri, admin)))
        {
            let detail = format!(
                "the certificate is admin {admin}'s ({uri}, serial {}): admins are not tenants; \
                 admin certificates are for the control-plane API, not the gateway",
                identity.serial
            );
            return Err(refuse(
                AdmissionRefusal::AdminCertificate,
                Some(&identity),
                detail,
            ));
        }
        let detail = format!(
            "no URI SAN spiffe://{}/tenant/<id> in the certificate (URIs: {:?})",
            snapshot.trust_domain(),
            identity.uris
        );
        return Err(refuse(AdmissionRefusal::NoTenant, Some(&identity), detail));
    };
    match snapshot.admit(&tenant, &identity.serial) {
        Ok(entry) => Ok(Admitted {
            tenant,
            identity,
            entry,
        }),
        Err(refusal) => {
            let detail = format!(
                "tenant {tenant}, serial {}: {}",
                identity.serial,
                registry_refusal_text(refusal)
            );
            Err(refuse(
                AdmissionRefusal::Registry(refusal),
                Some(&identity),
                detail,
            ))
        }
    }
}

/// Whether a connection admitted earlier is still admitted by `snapshot` at `now`: the
/// registry check and the validity period (for live connections, after every registry
/// change).
pub fn readmit(
    snapshot: &Snapshot,
    tenant: &TenantId,
    identity: &PeerIdentity,
    now: OffsetDateTime,
) -> Result<(), AdmissionRefusal> {
    identity.check_validity(now).map_err(validity_refusal)?;
    snapshot
        .admit(tenant, &identity.serial)
        .map(drop)
        .map_err(AdmissionRefusal::Registry)
}

/// The admission refusal for a certificate outside its validity period.
fn validity_refusal(invalid: ValidityError) -> AdmissionRefusal {
    match invalid {
        ValidityError::Expired { .. } => AdmissionRefusal::CertificateExpired,
        _ => AdmissionRefusal::CertificateNotYetValid,
    }
}

fn registry_refusal_text(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownTenant => "the registry does not know this tenant (deleted?)",
        Refusal::TenantSuspended => "the tenant is suspended",
        Refusal::UnknownCertificate => "the registry never issued or recorded this certificate",
        Refusal::CertificateOfOtherTenant => "the certificate belongs to another tenant",
        Refusal::CertificateRevoked => "the certificate was revoked",
        _ => "the registry refuses it",
    }
}
