//! Admin identities: who may administer the proxy through the control-plane API.
//!
//! An admin certificate carries the URI SAN `spiffe://<trust-domain>/admin/<name>`. It is a
//! different namespace from tenants (`.../tenant/<id>`), so an admin certificate never maps
//! to a tenant and the gateway refuses it like any other non-tenant certificate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{IdError, TenantId, TrustDomain};

/// An admin's name: the same shape as a tenant id (1-63 of `a-z`, `0-9`, `-`, not starting
/// or ending with `-`), in its own namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AdminName(String);

// === impl AdminName ===

impl AdminName {
    /// Validates `value` as an admin name.
    pub fn try_new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        // Same rules as a tenant id; the error names the value, which is what matters.
        TenantId::try_new(value.as_str())?;
        Ok(Self(value))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AdminName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_new(s)
    }
}

impl TryFrom<String> for AdminName {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_new(value)
    }
}

impl From<AdminName> for String {
    fn from(a: AdminName) -> Self {
        a.0
    }
}

impl fmt::Display for AdminName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The URI SAN that names admin `name` in `domain`: `spiffe://<domain>/admin/<name>`.
pub fn admin_uri(domain: &TrustDomain, name: &AdminName) -> String {
    format!("spiffe://{domain}/admin/{name}")
}

/// The admin a URI SAN names, if it is exactly `spiffe://<domain>/admin/<name>` (no
/// sub-path, query or fragment) under this trust domain.
pub fn admin_from_uri(domain: &TrustDomain, uri: &str) -> Option<AdminName> {
    let rest = uri.strip_prefix("spiffe://")?;
    let rest = rest.strip_prefix(domain.as_str())?;
    let name = rest.strip_prefix("/admin/")?;
    AdminName::try_new(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let domain: TrustDomain = "proxy.test".parse().unwrap();
        let alice: AdminName = "alice".parse().unwrap();
        let uri = admin_uri(&domain, &alice);
        assert_eq!(uri, "spiffe://proxy.test/admin/alice");
        assert_eq!(admin_from_uri(&domain, &uri), Some(alice));
        for other in [
            "spiffe://proxy.test/tenant/alice",
            "spiffe://other.test/admin/alice",
            "spiffe://proxy.test/admin/alice/x",
            "spiffe://proxy.test/admin/Alice",
            "spiffe://proxy.test/admin/alice?x",
            "spiffe://proxy.test/admin/",
            "spiffe://proxy.test.evil/admin/alice",
        ] {
            assert_eq!(admin_from_uri(&domain, other), None, "{other}");
        }
        assert!("-bad".parse::<AdminName>().is_err());
    }
}
