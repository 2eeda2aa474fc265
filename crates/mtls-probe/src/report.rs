//! [`ProbeReport`]: what `mtlsd probe` found, for a terminal (`Display`) or as JSON.

use std::fmt;
use std::net::SocketAddr;

use mtls_resolver::{CertificateRequest, Explanation};
use rustls::ProtocolVersion;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The server's certificate, as presented.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCertificate {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// How the server certificate was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// Against the CAs in this file (`--ca` or the listener's `ca`); `error` says why it
    /// failed, if it did.
    Roots {
        /// The CA file.
        ca: String,
        /// The verifier's complaint, if any.
        error: Option<String>,
    },
    /// Not checked (`--insecure-skip-verify`).
    Skipped,
}

/// Everything one probe learned. Complete when [`ProbeReport::is_complete`]; otherwise it
/// still holds what was seen before the handshake failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeReport {
    /// `HOST:PORT` as given.
    pub target: String,
    /// The address connected to.
    pub peer: SocketAddr,
    /// The server name sent (SNI) and verified.
    pub server_name: String,
    /// The listener whose identities were offered, if any.
    pub listener: Option<String>,
    /// How many identities were configured (0 without `--config`).
    pub identities: usize,
    /// The negotiated (or, on failure, the observed) protocol version.
    pub tls_version: Option<ProtocolVersion>,
    /// The negotiated cipher suite (complete handshakes only).
    pub cipher_suite: Option<String>,
    /// The server certificate, if the server got as far as sending one.
    pub server_certificate: Option<ServerCertificate>,
    /// How it was verified.
    pub verification: Verification,
    /// The server's CertificateRequest; `None`: it asked for no client certificate.
    pub request: Option<CertificateRequest>,
    /// The resolver's decision for that request (with `--config`, and only when a
    /// certificate was requested).
    pub explanation: Option<Explanation>,
    /// The readable CA names of the request (also present without `--config`).
    pub ca_names: Vec<String>,
    /// Why the handshake failed (including a rejection right after it completed).
    pub handshake_error: Option<String>,
}

// === impl ProbeReport ===

impl ProbeReport {
    /// Whether the handshake completed and the server did not reject it right after.
    pub fn is_complete(&self) -> bool {
        self.handshake_error.is_none()
    }

    /// The identity that was (or would be) sent, if any.
    pub fn chosen_identity(&self) -> Option<&str> {
        self.explanation.as_ref()?.identity.as_deref()
    }

    /// The report as a JSON object (stable keys; `null` where nothing was learned).
    pub fn to_json(&self) -> Value {
        let cert = self.server_certificate.as_ref().map(|c| {
            json!({
                "subject": c.subject,
                "issuer": c.issuer,
                "serial": c.serial,
                "not_before": rfc3339(c.not_before),
                "not_after": rfc3339(c.not_after),
            })
        });
        let verification = match &self.verification {
            Verification::Roots { ca, error } => json!({"ca": ca, "error": error}),
            Verification::Skipped => json!({"skipped": true}),
        };
        let request = self.request.as_ref().map(|r| {
            json!({
                "ca_names": self.ca_names,
                "signature_schemes": r.schemes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
            })
        });
        let selection = self.explanation.as_ref().map(|e| {
            json!({
                "identity": e.identity,
                "reason": e.reason.as_str(),
                "explanation": e.to_string(),
            })
        });
        json!({
            "target": self.target,
            "peer": self.peer.to_string(),
            "server_name": self.server_name,
            "listener": self.listener,
            "identities": self.identities,
            "tls_version": self.tls_version.map(version_name),
            "cipher_suite": self.cipher_suite,
            "server_certificate": cert,
            "verification": verification,
            "client_certificate_requested": self.request.is_some(),
            "certificate_request": request,
            "selection": selection,
            "handshake": {
                "completed": self.is_complete(),
                "error": self.handshake_error,
            },
        })
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "probe {} ({}), server name {}",
            self.target, self.peer, self.server_name
        )?;
        match self.tls_version {
            Some(v) => write!(f, "TLS version: {}", version_name(v))?,
            None => write!(f, "TLS version: unknown")?,
        }
        match &self.cipher_suite {
            Some(suite) => writeln!(f, ", cipher suite {suite}")?,
            None => writeln!(f)?,
        }
        match &self.server_certificate {
            Some(c) => {
                writeln!(f, "server certificate:")?;
                writeln!(f, "  subject: {}", c.subject)?;
                writeln!(f, "  issuer:  {}", c.issuer)?;
                writeln!(f, "  serial:  {}", c.serial)?;
                let days = (c.not_after - OffsetDateTime::now_utc()).whole_days();
                writeln!(
                    f,
                    "  valid:   {} to {} ({days} days left)",
                    rfc3339(c.not_before),
                    rfc3339(c.not_after)
                )?;
            }
            None => writeln!(f, "server certificate: not received")?,
        }
        match &self.verification {
            Verification::Roots { ca, error: None } => writeln!(f, "  verified against {ca}")?,
            Verification::Roots { ca, error: Some(e) } => {
                writeln!(f, "  NOT trusted by {ca}: {e}")?;
            }
            Verification::Skipped => {
                writeln!(f, "  NOT VERIFIED (--insecure-skip-verify)")?;
            }
        }
        match (&self.request, &self.explanation) {
            (None, _) if self.is_complete() => writeln!(
                f,
                "client certificate: the server did not request one (no identity is sent)"
            )?,
            (None, _) => writeln!(
                f,
                "client certificate request: not seen before the handshake failed"
            )?,
            (Some(_), Some(explanation)) => {
                writeln!(
                    f,
                    "client certificate: requested; identities of listener {:?} ({}):",
                    self.listener.as_deref().unwrap_or("?"),
                    self.identities
                )?;
                for line in explanation.to_string().lines() {
                    writeln!(f, "  {line}")?;
                }
                if explanation.identity.is_none() {
                    writeln!(
                        f,
                        "NO configured identity would be sent ({}): the server will likely \
                         refuse the connection",
                        explanation.reason
                    )?;
                }
            }
            (Some(request), None) => {
                writeln!(f, "client certificate: requested")?;
                if self.ca_names.is_empty() {
                    writeln!(f, "  acceptable CA names: none sent")?;
                } else {
                    writeln!(f, "  acceptable CA names ({}):", self.ca_names.len())?;
                    for name in &self.ca_names {
                        writeln!(f, "    {name}")?;
                    }
                }
                let schemes: Vec<String> =
                    request.schemes.iter().map(|s| format!("{s:?}")).collect();
                writeln!(f, "  signature schemes: {}", schemes.join(", "))?;
                writeln!(
                    f,
                    "  (no identities configured: pass --config FILE --listener NAME to see \
                     which one would be chosen)"
                )?;
            }
        }
        match &self.handshake_error {
            None => write!(f, "result: handshake completed"),
            Some(e) => write!(f, "result: handshake FAILED: {e}"),
        }
    }
}

/// `TLS 1.3` rather than rustls' `TLSv1_3`.
pub(super) fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_2 => "TLS 1.2".to_owned(),
        ProtocolVersion::TLSv1_3 => "TLS 1.3".to_owned(),
        other => format!("{other:?}"),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}
