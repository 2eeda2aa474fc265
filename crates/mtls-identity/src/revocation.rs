//! Revocation reasons (RFC 5280 §5.3.1).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a certificate was revoked. The names are the RFC 5280 reason codes in kebab case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RevocationReason {
    /// No reason given.
    #[default]
    Unspecified,
    /// The private key was (or may have been) disclosed.
    KeyCompromise,
    /// The CA's key was compromised.
    CaCompromise,
    /// The holder's name or affiliation changed.
    AffiliationChanged,
    /// A newer certificate replaces this one.
    Superseded,
    /// The holder no longer needs it (e.g. the tenant was deleted).
    CessationOfOperation,
    /// The holder's privileges were withdrawn (e.g. the tenant was offboarded for cause).
    PrivilegeWithdrawn,
}

// === impl RevocationReason ===

impl RevocationReason {
    /// Every reason, in RFC order.
    pub const ALL: [Self; 7] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::PrivilegeWithdrawn,
    ];

    /// The kebab-case name used on the command line and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key-compromise",
            Self::CaCompromise => "ca-compromise",
            Self::AffiliationChanged => "affiliation-changed",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation-of-operation",
            Self::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    /// The RFC 5280 `CRLReason` code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::PrivilegeWithdrawn => 9,
        }
    }
}

/// An unknown revocation reason name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown revocation reason {0:?}; expected one of: unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation, privilege-withdrawn"
)]
pub struct UnknownRevocationReason(pub String);

impl FromStr for RevocationReason {
    type Err = UnknownRevocationReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRevocationReason(s.to_owned()))
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
        }
        assert!("stolen".parse::<RevocationReason>().is_err());
    }
}
