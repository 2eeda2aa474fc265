//! [`Explanation`]: a resolver decision with its working shown, for diagnostics such as
//! `mtlsd probe`.

use std::fmt;

use rustls::SignatureScheme;

use crate::{Fallback, Reason};

/// What [`MultiIdentityResolver::explain`](crate::MultiIdentityResolver::explain) found.
///
/// `Display` renders a multi-line report meant for a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// The identity that would be sent, if any.
    pub identity: Option<String>,
    /// Why (the same value a [`SelectionObserver`](crate::SelectionObserver) would see).
    pub reason: Reason,
    /// The server name the decision was made for.
    pub server_name: Option<String>,
    /// The identity a server-name preference names for this server, if any.
    pub preferred: Option<String>,
    /// Each CA name the server sent, in its order, with the identities answering to it.
    pub ca_names: Vec<CaNameMatch>,
    /// Identities whose key cannot sign with any of [`Explanation::schemes`].
    pub unable_to_sign: Vec<String>,
    /// The signature schemes the server offered.
    pub schemes: Vec<SignatureScheme>,
    /// The fallback in force.
    pub fallback: Fallback,
}

/// One acceptable CA name sent by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaNameMatch {
    /// The name, RFC 4514-like (or a hex dump when it cannot be parsed).
    pub name: String,
    /// The identities (configuration order) whose chain answers to it.
    pub identities: Vec<String>,
}

// === impl Explanation ===

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.server_name {
            writeln!(f, "server name: {name}")?;
        }
        if self.ca_names.is_empty() {
            writeln!(f, "acceptable CA names: none sent")?;
        } else {
            writeln!(f, "acceptable CA names ({}):", self.ca_names.len())?;
            for ca in &self.ca_names {
                if ca.identities.is_empty() {
                    writeln!(f, "  {}  (no identity)", ca.name)?;
                } else {
                    writeln!(f, "  {}  -> {}", ca.name, ca.identities.join(", "))?;
                }
            }
        }
        let schemes: Vec<String> = self.schemes.iter().map(|s| format!("{s:?}")).collect();
        writeln!(f, "signature schemes: {}", schemes.join(", "))?;
        if !self.unable_to_sign.is_empty() {
            writeln!(
                f,
                "identities unable to sign with these schemes: {}",
                self.unable_to_sign.join(", ")
            )?;
        }
        if let Some(preferred) = &self.preferred {
            writeln!(f, "server-name preference: {preferred}")?;
        }
        let fallback = match &self.fallback {
            Fallback::Named(name) => format!("identity {name}"),
            Fallback::First => "first usable identity".to_owned(),
            Fallback::None => "none".to_owned(),
        };
        writeln!(f, "fallback: {fallback}")?;
        match &self.identity {
            Some(identity) => write!(f, "chosen: {identity} ({})", self.reason),
            None => write!(f, "chosen: no certificate ({})", self.reason),
        }
    }
}
