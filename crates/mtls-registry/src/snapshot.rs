//! The immutable, versioned view of the registry that the data plane reads.

use std::collections::HashMap;
use std::fmt;

use mtls_identity::{Serial, TenantId, TrustDomain};

use crate::{RouteRecord, TenantLimits, TenantStatus};

/// An immutable, consistent view of the registry at one [`version`](Self::version).
///
/// Built by [`Store::snapshot`](crate::Store::snapshot) from one read transaction. Share it
/// in an `Arc` (e.g. behind an `ArcSwap`); lookups never touch the database.
///
/// It contains every tenant (suspended ones too), every route, and every certificate the
/// registry ever recorded with its tenant and revocation state. [`admit`](Self::admit) is
/// two hash lookups and allocates nothing (≈ 95 ns with 10,000 tenants on a 2-core VM).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) version: u64,
    pub(crate) trust_domain: TrustDomain,
    pub(crate) tenants: HashMap<TenantId, TenantEntry>,
    pub(crate) certificates: HashMap<Serial, CertEntry>,
}

/// A tenant and its routes, as the snapshot holds them.
#[derive(Debug, Clone)]
pub(crate) struct TenantEntry {
    pub(crate) tenant: SnapshotTenant,
    pub(crate) routes: Vec<RouteRecord>,
}

/// What the snapshot knows about a certificate.
#[derive(Debug, Clone)]
pub(crate) struct CertEntry {
    pub(crate) tenant: TenantId,
    pub(crate) revoked: bool,
}

/// A tenant as the data plane sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTenant {
    /// The tenant's display name.
    pub display_name: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// The limits to enforce.
    pub limits: TenantLimits,
}

/// Why [`Snapshot::admit`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The certificate names a tenant the registry does not know (e.g. deleted).
    UnknownTenant,
    /// The tenant is suspended.
    TenantSuspended,
    /// The registry never recorded this certificate's serial.
    UnknownCertificate,
    /// The serial belongs to a certificate of another tenant.
    CertificateOfOtherTenant,
    /// The certificate was revoked.
    CertificateRevoked,
}

// === impl Refusal ===

impl Refusal {
    /// Every refusal.
    pub const ALL: [Self; 5] = [
        Self::UnknownTenant,
        Self::TenantSuspended,
        Self::UnknownCertificate,
        Self::CertificateOfOtherTenant,
        Self::CertificateRevoked,
    ];

    /// A short `snake_case` label, usable as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownTenant => "unknown_tenant",
            Self::TenantSuspended => "tenant_suspended",
            Self::UnknownCertificate => "unknown_certificate",
            Self::CertificateOfOtherTenant => "certificate_of_other_tenant",
            Self::CertificateRevoked => "certificate_revoked",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Refusal {}

// === impl Snapshot ===

impl Snapshot {
    /// The registry version this snapshot was read at.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The registry's trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// A tenant (active or suspended), or `None` if the registry does not know it.
    pub fn tenant(&self, id: &TenantId) -> Option<&SnapshotTenant> {
        self.tenants.get(id).map(|e| &e.tenant)
    }

    /// Every tenant, in no particular order.
    pub fn tenants(&self) -> impl Iterator<Item = (&TenantId, &SnapshotTenant)> {
        self.tenants.iter().map(|(id, e)| (id, &e.tenant))
    }

    /// How many tenants the snapshot holds.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// One tenant's routes, in creation order; empty for unknown tenants.
    pub fn routes(&self, tenant: &TenantId) -> &[RouteRecord] {
        self.tenants.get(tenant).map_or(&[], |e| &e.routes)
    }

    /// True if the registry recorded a certificate with this serial as revoked.
    pub fn is_revoked(&self, serial: &Serial) -> bool {
        self.certificates.get(serial).is_some_and(|c| c.revoked)
    }

    /// The admission check the gateway runs after every handshake (resumed ones too): the
    /// tenant is known and active, the certificate is known to the registry, belongs to
    /// this tenant and is not revoked. Checks run in that order; the first failure is
    /// returned.
    pub fn admit(&self, tenant: &TenantId, serial: &Serial) -> Result<&SnapshotTenant, Refusal> {
        let entry = self.tenants.get(tenant).ok_or(Refusal::UnknownTenant)?;
        if entry.tenant.status != TenantStatus::Active {
            return Err(Refusal::TenantSuspended);
        }
        let cert = self
            .certificates
            .get(serial)
            .ok_or(Refusal::UnknownCertificate)?;
        if cert.tenant != *tenant {
            return Err(Refusal::CertificateOfOtherTenant);
        }
        if cert.revoked {
            return Err(Refusal::CertificateRevoked);
        }
        Ok(&entry.tenant)
    }
}
