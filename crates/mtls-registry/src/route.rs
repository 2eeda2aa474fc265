//! Routes as stored in the registry.

use std::fmt;
use std::str::FromStr;

use mtls_identity::TenantId;
use mtls_route_spec::RouteSpec;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::util;

/// A route's id: `r-` followed by 16 lowercase hex characters (64 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RouteId(String);

/// Why a route id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid route id {0:?}: expected \"r-\" followed by 16 lowercase hex characters")]
pub struct RouteIdError(pub String);

// === impl RouteId ===

impl RouteId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(util::random_id("r-"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
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
            Ok(Self(s.to_owned()))
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
        id.0
    }
}

impl fmt::Display for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One route of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// The route id.
    pub id: RouteId,
    /// The tenant that owns it; it is only ever matched inside this tenant's table.
    pub tenant: TenantId,
    /// What it matches and where it goes.
    pub spec: RouteSpec,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
