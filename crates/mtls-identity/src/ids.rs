//! Tenant ids and trust domains.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a tenant id or trust domain was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The value was empty.
    #[error("{what} is empty")]
    Empty {
        /// "tenant id" or "trust domain".
        what: &'static str,
    },
    /// The value was longer than allowed.
    #[error("{what} {value:?} is {len} characters long; the limit is {max}")]
    TooLong {
        /// "tenant id" or "trust domain".
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The value had a character outside `a-z`, `0-9`, `-` (and `.` for trust domains).
    #[error(
        "{what} {value:?} contains {found:?} at position {position}; only lowercase letters, digits and '-'{extra} are allowed{hint}"
    )]
    BadCharacter {
        /// "tenant id" or "trust domain".
        what: &'static str,
        /// The rejected value.
        value: String,
        /// The offending character.
        found: char,
        /// Its character position (0-based).
        position: usize,
        /// Extra characters allowed for this kind of value.
        extra: &'static str,
        /// A hint, e.g. about uppercase letters.
        hint: &'static str,
    },
    /// A label started or ended with `-`, or a trust domain had an empty label.
    #[error("{what} {value:?} {problem}")]
    BadShape {
        /// "tenant id" or "trust domain".
        what: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Checks one DNS label: 1..=63 chars of `[a-z0-9-]`, not starting or ending with `-`.
fn check_label(what: &'static str, whole: &str, label: &str, offset: usize) -> Result<(), IdError> {
    if label.is_empty() {
        return Err(IdError::BadShape {
            what,
            value: whole.to_owned(),
            problem: "has an empty label (two dots in a row, or a leading or trailing dot)",
        });
    }
    if label.len() > 63 {
        return Err(IdError::TooLong {
            what,
            value: whole.to_owned(),
            len: label.len(),
            max: 63,
        });
    }
    for (i, c) in label.chars().enumerate() {
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(IdError::BadCharacter {
                what,
                value: whole.to_owned(),
                found: c,
                position: offset + i,
                extra: if what == "trust domain" {
                    " and '.'"
                } else {
                    ""
                },
                hint: if c.is_ascii_uppercase() {
                    " (uppercase letters are not; use lowercase)"
                } else {
                    ""
                },
            });
        }
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(IdError::BadShape {
            what,
            value: whole.to_owned(),
            problem: "must not start or end with '-'",
        });
    }
    Ok(())
}

/// A tenant identifier: 1 to 63 characters of lowercase ASCII letters, digits and `-`, not
/// starting or ending with `-` (a DNS label, so it can appear in host names and URIs as is).
/// Held in an `Arc`: a clone (every view holds each tenant's id several times) shares the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(Arc<str>);

// === impl TenantId ===

impl TenantId {
    /// Validates `value` as a tenant id.
    pub fn try_new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::Empty { what: "tenant id" });
        }
        if value.chars().count() > 63 {
            return Err(IdError::TooLong {
                what: "tenant id",
                len: value.chars().count(),
                value,
                max: 63,
            });
        }
        check_label("tenant id", &value, &value, 0)?;
        Ok(Self(value.into()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_new(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_new(value)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0.as_ref().to_owned()
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The trust domain of our SPIFFE-style identities: a lowercase DNS name such as
/// `proxy.example.com` (at most 255 characters, labels of at most 63).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustDomain(String);

// === impl TrustDomain ===

impl TrustDomain {
    /// Validates `value` as a trust domain.
    pub fn try_new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::Empty {
                what: "trust domain",
            });
        }
        if value.len() > 255 {
            return Err(IdError::TooLong {
                what: "trust domain",
                len: value.len(),
                value,
                max: 255,
            });
        }
        let mut offset = 0;
        for label in value.split('.') {
            check_label("trust domain", &value, label, offset)?;
            offset += label.chars().count() + 1;
        }
        Ok(Self(value))
    }

    /// The domain as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TrustDomain {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_new(s)
    }
}

impl TryFrom<String> for TrustDomain {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_new(value)
    }
}

impl From<TrustDomain> for String {
    fn from(d: TrustDomain) -> Self {
        d.0
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The URI SAN that names `tenant` in `domain`: `spiffe://<domain>/tenant/<tenant>`.
pub fn tenant_uri(domain: &TrustDomain, tenant: &TenantId) -> String {
    format!("spiffe://{domain}/tenant/{tenant}")
}

/// The tenant a URI SAN names, if it is `spiffe://<domain>/tenant/<id>` or
/// `spiffe://<domain>/tenant/<id>/<workload...>` under exactly this trust domain.
///
/// Anything else (another domain, another scheme, a malformed id, a query or fragment)
/// yields `None`: the URI does not name one of our tenants.
pub fn tenant_from_uri(domain: &TrustDomain, uri: &str) -> Option<TenantId> {
    let rest = uri.strip_prefix("spiffe://")?;
    let rest = rest.strip_prefix(domain.as_str())?;
    let rest = rest.strip_prefix("/tenant/")?;
    if rest.contains(['?', '#']) {
        return None;
    }
    let id = match rest.split_once('/') {
        Some((id, workload)) if !workload.is_empty() && !workload.split('/').any(str::is_empty) => {
            id
        }
        Some(_) => return None,
        None => rest,
    };
    TenantId::try_new(id).ok()
}

#[cfg(test)]
mod tests;
