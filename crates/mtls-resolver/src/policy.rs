//! What to do besides matching CA names: per-server-name preferences and the fallback.

use std::fmt;
use std::str::FromStr;

/// Which identity to send when no identity matches the server's CA names, or when the server
/// names no CAs at all (TLS 1.3 servers may omit them; some TLS 1.2 servers send an empty
/// list).
///
/// Sending an identity the server did not ask for tells that server which certificate (and
/// so which customer) the caller holds. Where that matters, prefer [`Fallback::None`] plus
/// per-server-name preferences ([`SelectionPolicy::prefer`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fallback {
    /// The identity with this name, if its key can sign with a scheme the server offers.
    Named(String),
    /// The first identity, in configuration order, whose key can sign with a scheme the
    /// server offers (the default).
    #[default]
    First,
    /// No certificate: the handshake continues without client authentication.
    None,
}

/// A server name (SNI) pattern for [`SelectionPolicy::prefer`]: an exact DNS name
/// (`api.acme.example`) or a one-label wildcard (`*.acme.example`, which matches
/// `api.acme.example` but neither `acme.example` nor `a.b.acme.example`). Case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerNamePattern {
    /// Lower-case; for a wildcard, the part after `*.`.
    name: String,
    wildcard: bool,
}

/// Why a string is not a [`ServerNamePattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server name pattern {pattern:?}: {reason}")]
pub struct ServerNamePatternError {
    /// The rejected pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Server-name preferences and the fallback: everything about selection except the
/// identities themselves. Replaced together with them by
/// [`MultiIdentityResolver::replace`](crate::MultiIdentityResolver::replace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectionPolicy {
    fallback: Fallback,
    preferences: Vec<(ServerNamePattern, String)>,
}

// === impl ServerNamePattern ===

impl ServerNamePattern {
    /// Whether `server_name` matches (case-insensitive; a trailing dot is ignored).
    pub fn matches(&self, server_name: &str) -> bool {
        let server_name = server_name.trim_end_matches('.');
        if self.wildcard {
            parent_domain(server_name).is_some_and(|parent| parent.eq_ignore_ascii_case(&self.name))
        } else {
            server_name.eq_ignore_ascii_case(&self.name)
        }
    }

    /// For a wildcard, the parent domain it covers; for an exact name, `None`.
    pub(crate) fn wildcard_suffix(&self) -> Option<&str> {
        self.wildcard.then_some(self.name.as_str())
    }

    /// For an exact name, the name; for a wildcard, `None`.
    pub(crate) fn exact(&self) -> Option<&str> {
        (!self.wildcard).then_some(self.name.as_str())
    }
}

/// `a.b.c` → `b.c`; `None` for a single label.
pub(crate) fn parent_domain(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, rest)| rest)
}

impl FromStr for ServerNamePattern {
    type Err = ServerNamePatternError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ServerNamePatternError {
            pattern: pattern.to_owned(),
            reason,
        };
        let lower = pattern.trim_end_matches('.').to_ascii_lowercase();
        let (name, wildcard) = match lower.strip_prefix("*.") {
            Some(rest) => (rest.to_owned(), true),
            None => (lower, false),
        };
        if name.is_empty() {
            return Err(fail("it is empty"));
        }
        if name.len() > 253 {
            return Err(fail("it is longer than 253 characters"));
        }
        if name.contains('*') {
            return Err(fail("'*' is only allowed as the whole first label"));
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err(fail("it has an empty label"));
            }
            if label.len() > 63 {
                return Err(fail("a label is longer than 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(fail(
                    "only ASCII letters, digits, '-' and '_' are allowed in labels",
                ));
            }
        }
        Ok(Self { name, wildcard })
    }
}

impl fmt::Display for ServerNamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.name)
    }
}

// === impl SelectionPolicy ===

impl SelectionPolicy {
    /// The default policy: no preferences, [`Fallback::First`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the fallback.
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Prefers `identity` for connections to servers matching `pattern`, before CA-name
    /// matching. When that identity's key cannot sign with any scheme the server offers,
    /// selection carries on with CA-name matching.
    ///
    /// A later preference for an equal pattern replaces the earlier one.
    pub fn prefer(mut self, pattern: ServerNamePattern, identity: impl Into<String>) -> Self {
        let identity = identity.into();
        match self.preferences.iter_mut().find(|(p, _)| *p == pattern) {
            Some(slot) => slot.1 = identity,
            None => self.preferences.push((pattern, identity)),
        }
        self
    }

    /// The fallback.
    pub fn fallback(&self) -> &Fallback {
        &self.fallback
    }

    /// The server-name preferences, in the order they were added.
    pub fn preferences(&self) -> impl Iterator<Item = (&ServerNamePattern, &str)> {
        self.preferences.iter().map(|(p, id)| (p, id.as_str()))
    }
}
