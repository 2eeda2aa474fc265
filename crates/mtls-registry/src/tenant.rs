//! Tenants, their limits, and the actor who changes them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use mtls_identity::{Serial, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{RegistryError, RoutePolicy};

/// Who made a change, as recorded in the audit log: `cli:alice`, `api:admin-cert-<fp>`.
///
/// 1 to 128 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor(String);

/// Why an actor name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid actor {value:?}: {reason}")]
pub struct InvalidActor {
    /// The rejected text.
    pub value: String,
    /// Why.
    pub reason: &'static str,
}

// === impl Actor ===

impl Actor {
    /// The longest actor name, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Validates `value` as an actor name.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidActor> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.chars().count() > Self::MAX_CHARS {
            Some("it is longer than 128 characters")
        } else if value.chars().any(char::is_control) {
            Some("it contains a control character")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidActor { value, reason }),
            None => Ok(Self(value)),
        }
    }

    /// The actor name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Actor {
    type Err = InvalidActor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Actor {
    type Error = InvalidActor;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> Self {
        a.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a tenant may connect and be issued certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TenantStatus {
    /// Connections are admitted; certificates and tokens can be issued.
    Active,
    /// Connections are refused; nothing can be issued. Routes and certificates are kept.
    Suspended,
}

/// An unknown tenant status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tenant status {0:?}; expected \"active\" or \"suspended\"")]
pub struct UnknownTenantStatus(pub String);

// === impl TenantStatus ===

impl TenantStatus {
    /// `"active"` or `"suspended"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// The audit action recording a change to this status: `tenant.resume` (to active) or
    /// `tenant.suspend`.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Active => "tenant.resume",
            Self::Suspended => "tenant.suspend",
        }
    }
}

impl FromStr for TenantStatus {
    type Err = UnknownTenantStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            other => Err(UnknownTenantStatus(other.to_owned())),
        }
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-tenant limits the data plane enforces. `None` means "no tenant-specific limit"
/// (the global limits still apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Concurrent connections from this tenant.
    pub max_connections: Option<u32>,
    /// Requests (or new connections, for TCP routes) per second.
    pub requests_per_second: Option<u32>,
}

// === impl TenantLimits ===

impl TenantLimits {
    /// Checks that set limits are positive (a zero limit would lock the tenant out; suspend
    /// it instead).
    pub fn validate(&self) -> Result<(), RegistryError> {
        if self.max_connections == Some(0) {
            return Err(RegistryError::InvalidLimits {
                field: "max_connections",
                reason: "must be at least 1 (suspend the tenant to refuse all connections)",
            });
        }
        if self.requests_per_second == Some(0) {
            return Err(RegistryError::InvalidLimits {
                field: "requests_per_second",
                reason: "must be at least 1 (suspend the tenant to refuse all requests)",
            });
        }
        Ok(())
    }
}

/// A tenant as stored in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// The tenant id (also in its certificates' URI SAN).
    pub id: TenantId,
    /// A human-readable name (also the O of its certificates).
    pub display_name: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Tenant-specific limits.
    pub limits: TenantLimits,
    /// What the tenant may add to its own routes through self-service.
    pub route_policy: RoutePolicy,
    /// The source address every route of the tenant without an explicit `egress_bind`
    /// dials its upstreams from: the one address the tenant's upstreams allow-list.
    pub egress_address: Option<IpAddr>,
    /// When the tenant was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the tenant row last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What [`Store::delete_tenant`](crate::Store::delete_tenant) removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedTenant {
    /// Certificates revoked by the deletion (reason `cessation-of-operation`).
    pub revoked: Vec<Serial>,
    /// Routes deleted.
    pub routes_removed: u32,
    /// Enrollment tokens deleted (used or not).
    pub tokens_removed: u32,
}

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Checks a display name: 1..=64 characters, no control characters, else
/// [`InvalidDisplayName`](RegistryError::InvalidDisplayName). Backends check it in
/// `create_tenant`, before writing anything.
pub fn validate_display_name(name: &str) -> Result<(), RegistryError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        Some("it is longer than 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(RegistryError::InvalidDisplayName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A change to a tenant's settings: each `Some` field replaces the stored value; `None`
/// leaves it as it is. Applied in one transaction with one `tenant.update` audit event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// New limits.
    pub limits: Option<TenantLimits>,
    /// New route policy.
    pub route_policy: Option<RoutePolicy>,
    /// New egress address (`Some(None)` clears it). The caller checks that the host holds
    /// the address; the registry only checks that no other tenant is assigned it. An
    /// IPv4-mapped IPv6 address (`::ffff:192.0.2.10`) is stored as the IPv4 address.
    pub egress_address: Option<Option<IpAddr>>,
}
