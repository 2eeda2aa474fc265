//! The immutable, versioned view of the registry that the data plane reads.

use std::collections::{HashMap, HashSet, hash_map};
use std::fmt;
use std::sync::Arc;

use mtls_persistent_map::{Map, from_entries};

use mtls_identity::{Serial, TenantId, TrustDomain};

use crate::{RouteId, RouteRecord, TenantLimits, TenantState, TenantStatus};

/// An immutable, consistent view of the registry at one [`version`](Self::version).
///
/// Built by [`Store::snapshot`](crate::Store::snapshot) from one read transaction (a backend
/// assembles it with a [`SnapshotBuilder`]). Share it in an `Arc` (e.g. behind an
/// `ArcSwap`); lookups never touch the database.
///
/// It contains every tenant (suspended ones too), every route, and every certificate the
/// registry ever recorded with its tenant and revocation state. [`admit`](Self::admit) is
/// two map lookups and allocates nothing.
///
/// The maps are persistent (copy-on-write B-trees of chunks, `immutable-chunkmap`): a clone
/// costs two reference counts and shares everything, and [`apply`](Self::apply) copies only
/// the chunks that hold what changed, so the snapshot before a change and the one after it
/// share all the rest.
#[derive(Debug, Clone)]
pub struct Snapshot {
    version: u64,
    trust_domain: TrustDomain,
    /// Each tenant behind its own `Arc` (its record and routes).
    tenants: Map<TenantId, Arc<TenantEntry>>,
    certificates: Map<Serial, CertEntry>,
    /// The serials of every tenant with a recorded certificate (tenants not in the snapshot
    /// too), sorted: what [`apply`](Self::apply) takes out of `certificates` when a tenant's
    /// certificates are replaced. Derived from `certificates`.
    serials: Map<TenantId, Arc<[Serial]>>,
}

/// Two snapshots are equal when they hold the same registry state: version, trust domain,
/// tenants with their routes, and certificates (the serial index follows from those).
impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.trust_domain == other.trust_domain
            && self.tenants == other.tenants
            && self.certificates == other.certificates
    }
}

impl Eq for Snapshot {}

/// A tenant and its routes, as the snapshot holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TenantEntry {
    tenant: SnapshotTenant,
    routes: Vec<RouteRecord>,
}

/// What the snapshot knows about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertEntry {
    tenant: TenantId,
    revoked: bool,
}

/// Assembles a [`Snapshot`], refusing whatever would make it inconsistent: the same tenant,
/// route id or certificate serial twice, or a route of a tenant that was not added first.
///
/// For [`Store`](crate::Store) backends, which read their rows in one read transaction and
/// add them here: every tenant first, then the routes in creation order (each tenant's routes
/// keep the order they are added in), and every certificate the registry recorded.
/// Certificates may name a tenant the snapshot does not hold: their rows outlive the tenant,
/// and [`Snapshot::admit`] refuses them for it.
///
/// ```
/// use mtls_identity::{Serial, TrustDomain};
/// use mtls_registry::{Refusal, SnapshotBuilder, SnapshotTenant, TenantLimits, TenantStatus};
///
/// let domain: TrustDomain = "proxy.example.com".parse()?;
/// let acme = "acme".parse()?;
/// let serial = Serial::random();
/// let mut builder = SnapshotBuilder::new(7, domain);
/// builder.tenant(acme, SnapshotTenant {
///     display_name: "ACME Corp".into(),
///     status: TenantStatus::Active,
///     limits: TenantLimits::default(),
///     egress_address: None,
/// })?;
/// builder.certificate(serial.clone(), "acme".parse()?, false)?;
/// // The same serial again would make the snapshot ambiguous.
/// assert!(builder.certificate(serial.clone(), "acme".parse()?, true).is_err());
/// let snapshot = builder.build();
/// assert_eq!(snapshot.version(), 7);
/// assert!(snapshot.admit(&"acme".parse()?, &serial).is_ok());
/// assert_eq!(snapshot.admit(&"other".parse()?, &serial).unwrap_err(), Refusal::UnknownTenant);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SnapshotBuilder {
    version: u64,
    trust_domain: TrustDomain,
    /// Gathered in hash maps (rows come in any order), then sorted into the snapshot's
    /// persistent maps at once by [`build`](Self::build): a batch insert of sorted keys
    /// instead of a tree insertion per row.
    ///
    /// The maps hash with foldhash (seeded per process), several times faster than the
    /// standard SipHash on these short keys; the keys come from the registry, not from
    /// the network.
    tenants: HashMap<TenantId, TenantEntry, FastHash>,
    certificates: HashMap<Serial, CertEntry, FastHash>,
    route_ids: HashSet<RouteId, FastHash>,
    /// Each tenant's serials, gathered while certificates are added; sorted into the
    /// snapshot's index by `build`.
    serials: HashMap<TenantId, Vec<Serial>, FastHash>,
    /// The routes of the tenant the last route named (the snapshot's copy of its id), not
    /// yet moved to its entry: backends add each tenant's routes together, so this costs one
    /// tenant lookup per tenant instead of two per route, and each tenant's list is
    /// allocated once, at its exact size.
    pending: Option<(TenantId, Vec<RouteRecord>)>,
}

/// Why a [`SnapshotBuilder`] refused a row: the rows a backend read are inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The tenant was added before.
    #[error("tenant {id} appears twice")]
    DuplicateTenant {
        /// The tenant id.
        id: TenantId,
    },
    /// The route's tenant was not added (before the route).
    #[error("route {route} belongs to tenant {tenant}, which is not in the snapshot")]
    RouteOfUnknownTenant {
        /// The route id.
        route: RouteId,
        /// The tenant it names.
        tenant: TenantId,
    },
    /// A route with this id was added before.
    #[error("route {id} appears twice")]
    DuplicateRoute {
        /// The route id.
        id: RouteId,
    },
    /// A certificate with this serial was added before.
    #[error("certificate serial {serial} appears twice")]
    DuplicateSerial {
        /// The serial.
        serial: Serial,
    },
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
    /// The tenant's egress address: the default `egress_bind` of its routes.
    pub egress_address: Option<std::net::IpAddr>,
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
        (&self.tenants).into_iter().map(|(id, e)| (id, &e.tenant))
    }

    /// How many tenants the snapshot holds.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// One tenant's routes, in creation order; empty for unknown tenants.
    pub fn routes(&self, tenant: &TenantId) -> &[RouteRecord] {
        self.tenants.get(tenant).map_or(&[], |e| &e.routes)
    }

    /// Whether `tenant`'s record and routes are the very same (shared, not equal) in both
    /// snapshots, or absent from both: what a view compiled from `other` may keep as it is
    /// for this tenant. Constant time.
    pub fn shares_tenant(&self, other: &Snapshot, tenant: &TenantId) -> bool {
        match (self.tenants.get(tenant), other.tenants.get(tenant)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
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

impl Snapshot {
    /// Brings this snapshot to `version` by replacing the tenants of a
    /// [`Delta::Tenants`](crate::Delta::Tenants) read from this snapshot's version: each
    /// state replaces its tenant (or removes it, when deleted), its routes and its
    /// certificates; every other tenant is kept as it is (shared with the snapshot this one
    /// was cloned from). The result equals the snapshot the store would build at `version`.
    /// Costs the touched tenants' routes and certificates, times the logarithm of the
    /// registry's size.
    pub fn apply(&mut self, version: u64, tenants: Vec<TenantState>) {
        for state in tenants {
            if let Some(old) = self.serials.remove_cow(&state.id) {
                for serial in old.iter() {
                    self.certificates.remove_cow(serial);
                }
            }
            let mut serials = Vec::with_capacity(state.certificates.len());
            for (serial, revoked) in state.certificates {
                let tenant = state.id.clone();
                serials.push(serial.clone());
                self.certificates
                    .insert_cow(serial, CertEntry { tenant, revoked });
            }
            if !serials.is_empty() {
                serials.sort_unstable();
                self.serials.insert_cow(state.id.clone(), serials.into());
            }
            match state.tenant {
                Some(tenant) => {
                    let mut routes = state.routes;
                    routes.shrink_to_fit();
                    let entry = Arc::new(TenantEntry { tenant, routes });
                    self.tenants.insert_cow(state.id, entry);
                }
                None => {
                    self.tenants.remove_cow(&state.id);
                }
            }
        }
        self.version = version;
    }
}

// === impl SnapshotBuilder ===

impl SnapshotBuilder {
    /// An empty snapshot of the registry of `trust_domain` at `version`.
    pub fn new(version: u64, trust_domain: TrustDomain) -> Self {
        Self {
            version,
            trust_domain,
            tenants: HashMap::default(),
            certificates: HashMap::default(),
            route_ids: HashSet::default(),
            serials: HashMap::default(),
            pending: None,
        }
    }

    /// Adds a tenant (active or suspended), with no routes yet.
    pub fn tenant(
        &mut self,
        id: TenantId,
        tenant: SnapshotTenant,
    ) -> Result<&mut Self, SnapshotError> {
        match self.tenants.entry(id) {
            hash_map::Entry::Occupied(e) => Err(SnapshotError::DuplicateTenant {
                id: e.key().clone(),
            }),
            hash_map::Entry::Vacant(e) => {
                e.insert(TenantEntry {
                    tenant,
                    routes: Vec::new(),
                });
                Ok(self)
            }
        }
    }

    /// Appends a route to its tenant's routes, which must have been added. The record's
    /// tenant id is replaced by the snapshot's own copy (the same text, shared).
    pub fn route(&mut self, mut route: RouteRecord) -> Result<&mut Self, SnapshotError> {
        let same_tenant = matches!(&self.pending, Some((t, _)) if *t == route.tenant);
        if !same_tenant {
            let Some((id, _)) = self.tenants.get_key_value(&route.tenant) else {
                return Err(SnapshotError::RouteOfUnknownTenant {
                    route: route.id,
                    tenant: route.tenant,
                });
            };
            let id = id.clone();
            self.flush_pending();
            let mut routes = self.pending_buffer();
            routes.clear();
            self.pending = Some((id, routes));
        }
        if !self.route_ids.insert(route.id.clone()) {
            return Err(SnapshotError::DuplicateRoute { id: route.id });
        }
        if let Some((tenant, routes)) = &mut self.pending {
            route.tenant = tenant.clone();
            routes.push(route);
        }
        Ok(self)
    }

    /// Moves the pending routes to their tenant's entry (after any it has already).
    fn flush_pending(&mut self) {
        if let Some((tenant, routes)) = &mut self.pending
            && let Some(entry) = self.tenants.get_mut(tenant)
        {
            entry.routes.reserve_exact(routes.len());
            entry.routes.append(routes);
        }
    }

    /// The pending list's buffer, emptied, for the next tenant's routes.
    fn pending_buffer(&mut self) -> Vec<RouteRecord> {
        self.pending
            .take()
            .map(|(_, routes)| routes)
            .unwrap_or_default()
    }

    /// Records a certificate the registry knows: the tenant it was issued to (which need not
    /// be in the snapshot) and whether it was revoked.
    pub fn certificate(
        &mut self,
        serial: Serial,
        tenant: TenantId,
        revoked: bool,
    ) -> Result<&mut Self, SnapshotError> {
        let tenant = match self.tenants.get_key_value(&tenant) {
            Some((id, _)) => id.clone(),
            None => tenant,
        };
        match self.certificates.entry(serial) {
            hash_map::Entry::Occupied(e) => Err(SnapshotError::DuplicateSerial {
                serial: e.key().clone(),
            }),
            hash_map::Entry::Vacant(e) => {
                self.serials
                    .entry(tenant.clone())
                    .or_default()
                    .push(e.key().clone());
                e.insert(CertEntry { tenant, revoked });
                Ok(self)
            }
        }
    }

    /// The snapshot.
    pub fn build(mut self) -> Snapshot {
        self.flush_pending();
        let tenants = from_entries(
            self.tenants
                .into_iter()
                .map(|(id, mut entry)| {
                    // A tenant whose routes came in several runs may have growth slack.
                    entry.routes.shrink_to_fit();
                    (id, Arc::new(entry))
                })
                .collect(),
        );
        let serials = from_entries(
            self.serials
                .into_iter()
                .map(|(tenant, mut serials)| {
                    serials.sort_unstable();
                    (tenant, Arc::from(serials))
                })
                .collect(),
        );
        Snapshot {
            version: self.version,
            trust_domain: self.trust_domain,
            tenants,
            certificates: from_entries(self.certificates.into_iter().collect()),
            serials,
        }
    }
}

/// The hasher of the builder's maps.
type FastHash = foldhash::fast::RandomState;

#[cfg(test)]
mod tests;
