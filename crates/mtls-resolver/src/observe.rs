//! Observability: which identity each handshake got, and why.

use std::fmt;

/// Why an identity was (or was not) chosen.
///
/// [`Reason::as_str`] gives a stable `snake_case` label for metrics
/// (`mtlsd_client_identity_selections_total{identity,reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A per-server-name preference named the identity.
    ServerNamePreference,
    /// One of the server's acceptable CA names is an issuer (or a CA certificate) in the
    /// identity's chain.
    MatchedCaName,
    /// No preference applied and no CA name matched (or the server named none): the
    /// configured [`Fallback`](crate::Fallback) chose the identity.
    Fallback,
    /// No certificate is sent: the resolver holds no identities, or nothing matched and the
    /// fallback is [`Fallback::None`](crate::Fallback::None) (or names no usable identity).
    NoneAvailable,
    /// No certificate is sent: an identity would have been chosen (preferred, matched or
    /// fallback) but its key cannot sign with any signature scheme the server offers.
    NoSigningScheme,
}

/// One decision of the resolver, handed to a [`SelectionObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selection<'a> {
    /// The identity sent, or `None` when no certificate is sent.
    pub identity: Option<&'a str>,
    /// Why.
    pub reason: Reason,
    /// The server name of the connection, when the resolver was built for one
    /// ([`MultiIdentityResolver::for_server_name`](crate::MultiIdentityResolver::for_server_name)).
    pub server_name: Option<&'a str>,
    /// How many CA names the server sent (0: it named none).
    pub ca_names_offered: usize,
}

/// Receives every selection the resolver makes (one per handshake that asks for a client
/// certificate).
///
/// Called on the handshake path, so keep it short and non-blocking: bump a counter, emit a
/// log line. Closures `Fn(&Selection<'_>) + Send + Sync` implement it.
pub trait SelectionObserver: Send + Sync {
    /// Called once per resolution, after the decision.
    fn on_selection(&self, selection: &Selection<'_>);
}

// === impl Reason ===

impl Reason {
    /// Stable metric label: `server_name_preference`, `matched_ca_name`, `fallback`,
    /// `none_available` or `no_signing_scheme`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ServerNamePreference => "server_name_preference",
            Self::MatchedCaName => "matched_ca_name",
            Self::Fallback => "fallback",
            Self::NoneAvailable => "none_available",
            Self::NoSigningScheme => "no_signing_scheme",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl SelectionObserver ===

impl<F> SelectionObserver for F
where
    F: Fn(&Selection<'_>) + Send + Sync,
{
    fn on_selection(&self, selection: &Selection<'_>) {
        self(selection);
    }
}
