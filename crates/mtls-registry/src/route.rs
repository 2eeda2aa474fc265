//! Routes as stored in the registry.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use mtls_identity::TenantId;
use mtls_route_spec::RouteSpec;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::util;

/// A route's id: `r-` followed by 16 lowercase hex characters (64 random bits), held inline
/// (18 bytes, no allocation).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RouteId([u8; ROUTE_ID_LEN]);

/// The length of a route id: `r-` and 16 hex characters.
const ROUTE_ID_LEN: usize = 18;

/// Why a route id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid route id {0:?}: expected \"r-\" followed by 16 lowercase hex characters")]
pub struct RouteIdError(pub String);

// === impl RouteId ===

impl RouteId {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut id = [0; ROUTE_ID_LEN];
        id.copy_from_slice(util::random_id("r-").as_bytes());
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from checked ASCII (`random`, `from_str`): never the fallback.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for RouteId {
    type Err = RouteIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.strip_prefix("r-").is_some_and(|h| {
            h.len() == 16
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            let mut id = [0; ROUTE_ID_LEN];
            id.copy_from_slice(s.as_bytes());
            Ok(Self(id))
        } else {
            Err(RouteIdError(s.to_owned()))
        }
    }
}

impl TryFrom<String> for RouteId {
    type Error = RouteIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<RouteId> for String {
    fn from(id: RouteId) -> Self {
        id.as_str().to_owned()
    }
}

impl fmt::Debug for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RouteId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One route of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// The route id.
    pub id: RouteId,
    /// The tenant that owns it; it is only ever matched inside this tenant's table.
    pub tenant: TenantId,
    /// What it matches and where it goes. Shared: the snapshot, the route table compiled
    /// from it and the gateway's compiled route all hold this one copy.
    pub spec: Arc<RouteSpec>,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
