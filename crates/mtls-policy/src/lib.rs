//! The gateway's decision, in one place: given a registry snapshot, a verified client
//! certificate, the time and a request (host + path, a CONNECT target or a TLS server name),
//! who is admitted (or why not), which of the tenant's routes wins (and the candidates it
//! beat), the verdict on the destination and the identity presented upstream.
//!
//! Sync and pure: no I/O, no clock of its own (the time is an argument), no runtime. The
//! gateway (`mtls-gateway`) acts on these decisions and `tenantctl explain` prints them; both
//! call the same functions, so the explanation cannot drift from what the gateway does.
//!
//! - [`admit`]: after every TLS handshake (resumed ones included): the certificate parses,
//!   is inside its validity period, names a tenant under the registry's trust domain, and
//!   the registry admits that tenant and serial. [`readmit`] re-checks a live connection
//!   against a newer snapshot.
//! - [`Policy`]: one snapshot with its compiled route table; [`Policy::route_http`],
//!   [`Policy::route_tcp`] and [`Policy::route_connect`] are the per-request lookups (no
//!   allocation), [`Policy::decide`] the whole decision with the candidates.
//! - [`DestinationVerdict`]: which CONNECT destinations may be dialed (non-public ranges
//!   need the route's `allow_private`); names are judged per resolved address at dial time
//!   with [`DestinationVerdict::of_address`].
//!
//! What it does not own: the TLS handshake (`mtls-tls`), limits and rates (runtime state of
//! the gateway), dialing (`mtls-egress`) and forwarding (`mtls-http-proxy`).
//!
//! # Example
//!
//! ```
//! use mtls_policy::DestinationVerdict;
//!
//! // CONNECT to an IP literal is judged before anything is dialed ...
//! let metadata = DestinationVerdict::before_dial("169.254.169.254", false);
//! assert!(metadata.is_refused());
//! assert!(!DestinationVerdict::before_dial("[2001:db8::1]", true).is_refused());
//! // ... a name on every address it resolves to, at dial time, by the same rule.
//! let resolved = "10.0.0.7".parse()?;
//! assert!(DestinationVerdict::of_address(resolved, false).is_refused());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admission;
mod decision;
mod routes;

pub use admission::{AdmissionRefusal, Admitted, Refused, admit, readmit};
pub use decision::{Decision, Request, RouteDecision, UpstreamIdentity};
pub use routes::{ConnectDecision, DestinationVerdict, Policy};

#[cfg(test)]
mod tests;
