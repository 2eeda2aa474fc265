//! What changed since a version: the registry's change log, read by the data plane so that
//! it can apply a change to its view instead of rebuilding the view from a full snapshot.
//!
//! Every committed change bumps the registry version by one and is recorded with it (for
//! SQLite, the version is a column of the change's audit event, written in the same
//! transaction). [`Store::changes_since`](crate::Store::changes_since) lists the changes
//! after a version in order; when the log cannot say (it does not reach back that far, the
//! version is from another copy of the registry, or the backend keeps no log), the answer
//! is [`Changes::Gap`] and the reader rebuilds from a snapshot, as it does at start-up.
//!
//! ```
//! use mtls_registry::{Change, ChangeKind, Changes};
//!
//! /// What a data-plane poller does with an answer: apply each change, or rebuild.
//! fn plan(changes: &Changes) -> Vec<String> {
//!     match changes {
//!         Changes::Listed(list) => list
//!             .iter()
//!             .filter(|c| c.kind.affects_data_plane())
//!             .map(|c| format!("v{}: {:?} of {:?}", c.version, c.kind, c.tenant))
//!             .collect(),
//!         Changes::Gap { version } => vec![format!("rebuild at v{version}")],
//!     }
//! }
//! assert_eq!(plan(&Changes::Gap { version: 7 }), ["rebuild at v7"]);
//! let token = Change {
//!     version: 8,
//!     kind: ChangeKind::from_action("token.create"),
//!     tenant: Some("acme".parse()?),
//!     details: serde_json::json!({}),
//! };
//! assert!(plan(&Changes::Listed(vec![token])).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use mtls_identity::{Serial, TenantId};
use serde_json::Value;

use crate::{RouteRecord, SnapshotTenant};

/// The most changes one [`Store::changes_since`](crate::Store::changes_since) call lists;
/// a reader that is further behind asks again from the last one it got.
pub const MAX_CHANGES_PER_READ: usize = 10_000;

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The registry version this change produced.
    pub version: u64,
    /// What was done.
    pub kind: ChangeKind,
    /// The tenant the change was about; `None` for changes to the registry as a whole
    /// (its creation, admin certificates).
    pub tenant: Option<TenantId>,
    /// The details the change's audit event recorded (the route id of a route added, the
    /// serial of a certificate revoked, ...).
    pub details: Value,
}

/// What a change did, from its audit action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// `registry.init`.
    RegistryCreated,
    /// `tenant.create`.
    TenantCreated,
    /// `tenant.update`, `tenant.limits`: the tenant's record changed (name, limits, route
    /// policy, egress address).
    TenantUpdated,
    /// `tenant.suspend`.
    TenantSuspended,
    /// `tenant.resume`.
    TenantResumed,
    /// `tenant.delete` (with its routes, certificates and tokens).
    TenantDeleted,
    /// `cert.issue`, `cert.renew`, `token.redeem`: a client certificate was recorded.
    CertificateIssued,
    /// `cert.revoke`.
    CertificateRevoked,
    /// `route.add`.
    RouteAdded,
    /// `route.remove`.
    RouteRemoved,
    /// `token.create`: nothing the data plane serves.
    TokenCreated,
    /// `admin.cert.issue`, `admin.cert.revoke`.
    AdminCertificate,
    /// An action this build does not know (written by a newer one): treat as anything.
    Other(String),
}

impl ChangeKind {
    /// The kind of a committed audit action.
    pub fn from_action(action: &str) -> Self {
        match action {
            "registry.init" => Self::RegistryCreated,
            "tenant.create" => Self::TenantCreated,
            "tenant.update" | "tenant.limits" => Self::TenantUpdated,
            "tenant.suspend" => Self::TenantSuspended,
            "tenant.resume" => Self::TenantResumed,
            "tenant.delete" => Self::TenantDeleted,
            "cert.issue" | "cert.renew" | "token.redeem" => Self::CertificateIssued,
            "cert.revoke" => Self::CertificateRevoked,
            "route.add" => Self::RouteAdded,
            "route.remove" => Self::RouteRemoved,
            "token.create" => Self::TokenCreated,
            "admin.cert.issue" | "admin.cert.revoke" => Self::AdminCertificate,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether a data-plane view can depend on this change: everything but an enrollment
    /// token being created (a token is only ever read by the control plane). Unknown kinds
    /// count as affecting it.
    pub fn affects_data_plane(&self) -> bool {
        !matches!(self, Self::TokenCreated)
    }
}

/// The answer to "what changed since version V".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// The changes after V, in version order without holes, starting at V + 1: all of
    /// them up to the current version, or the first
    /// [`MAX_CHANGES_PER_READ`] (or the caller's limit) of them. Empty when V is current.
    Listed(Vec<Change>),
    /// The log cannot list what came after V: rebuild from a full snapshot. `version` is
    /// the registry version when this was answered.
    Gap {
        /// The registry version now.
        version: u64,
    },
}

/// The most tenants one [`Delta::Tenants`] carries: a reader further behind than that gets
/// [`Delta::Gap`] and rebuilds from a snapshot, which is then the cheaper way.
pub const MAX_DELTA_TENANTS: usize = 1_000;

/// One tenant as the data plane reads it, at the version of the [`Delta`] it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantState {
    /// The tenant's id.
    pub id: TenantId,
    /// The tenant, or `None` when the registry no longer holds it (deleted).
    pub tenant: Option<SnapshotTenant>,
    /// Its routes, in creation order (empty for a deleted tenant).
    pub routes: Vec<RouteRecord>,
    /// Every certificate recorded for this tenant id, with whether it was revoked, in
    /// serial order (empty for a deleted tenant: its certificates go with it).
    pub certificates: Vec<(Serial, bool)>,
}

/// The answer to "bring a view at version V up to date": the changes since V and the state
/// now of every tenant they touched, read in one read transaction, or a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// Everything after V, complete up to `version` (the registry's version when read).
    /// Replacing the touched tenants of a snapshot at V with `tenants` gives the snapshot
    /// at `version`; the other tenants are as they were.
    Tenants {
        /// The registry version the delta brings a view to.
        version: u64,
        /// The changes from V + 1 to `version`, in order (tokens created included).
        changes: Vec<Change>,
        /// The state at `version` of each tenant a data-plane change named, in tenant order.
        tenants: Vec<TenantState>,
    },
    /// The delta cannot be given (the log cannot list the changes, they are more than
    /// [`MAX_CHANGES_PER_READ`], they touch more than [`MAX_DELTA_TENANTS`] tenants, or one
    /// affects the data plane without naming a tenant): rebuild from a snapshot.
    Gap {
        /// The registry version now.
        version: u64,
    },
}

/// Which tenants a list of changes touches, for a [`Delta`]: `None` when a data-plane change
/// names no tenant or is of a kind this build does not know ([`ChangeKind::Other`]: it may
/// change more than its tenant), so a view cannot apply it tenant by tenant, or when more
/// than [`MAX_DELTA_TENANTS`] are touched. Tokens created are skipped. Sorted, without
/// repeats.
pub fn touched_tenants(changes: &[Change]) -> Option<Vec<TenantId>> {
    let mut tenants = std::collections::BTreeSet::new();
    for change in changes.iter().filter(|c| c.kind.affects_data_plane()) {
        if matches!(change.kind, ChangeKind::Other(_)) {
            return None;
        }
        tenants.insert(change.tenant.clone()?);
        if tenants.len() > MAX_DELTA_TENANTS {
            return None;
        }
    }
    Some(tenants.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(version: u64, action: &str, tenant: Option<&str>) -> Change {
        Change {
            version,
            kind: ChangeKind::from_action(action),
            tenant: tenant.map(|t| t.parse().unwrap()),
            details: Value::Null,
        }
    }

    #[test]
    fn touched_tenants_are_sorted_once_each_and_tokens_touch_none() {
        let changes = [
            change(2, "route.add", Some("beta")),
            change(3, "token.create", Some("gamma")),
            change(4, "cert.revoke", Some("acme")),
            change(5, "tenant.suspend", Some("beta")),
        ];
        let touched = touched_tenants(&changes).unwrap();
        let names: Vec<&str> = touched.iter().map(TenantId::as_str).collect();
        assert_eq!(names, ["acme", "beta"]);
    }

    #[test]
    fn a_data_plane_change_without_a_tenant_or_too_many_tenants_cannot_be_applied() {
        assert_eq!(
            touched_tenants(&[change(2, "admin.cert.issue", None)]),
            None
        );
        assert_eq!(
            touched_tenants(&[change(2, "something.new", Some("acme"))]),
            None
        );
        let many: Vec<Change> = (0..=MAX_DELTA_TENANTS)
            .map(|i| change(i as u64 + 2, "route.add", Some(&format!("t{i}"))))
            .collect();
        assert_eq!(touched_tenants(&many), None);
        assert_eq!(
            touched_tenants(&many[..MAX_DELTA_TENANTS]).map(|t| t.len()),
            Some(MAX_DELTA_TENANTS)
        );
        // A token without a tenant is skipped, as every token is.
        assert_eq!(
            touched_tenants(&[change(2, "token.create", None)]),
            Some(Vec::new())
        );
    }
}
