//! Outbound connections of multi-mtls-proxy: where a tunnel may go, and getting there.
//!
//! ```
//! use std::time::Duration;
//! use mtls_egress::{EgressPolicy, connect_target, dial};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A destination on loopback, like an internal service would be.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let port = listener.local_addr()?.port();
//! let request = http::Request::connect(format!("127.0.0.1:{port}")).body(())?;
//! let target = connect_target(&request)?;
//!
//! // A tenant's CONNECT route: public destinations only, so loopback is refused.
//! let public_only = EgressPolicy::new(Duration::from_secs(5));
//! let err = dial(target.host(), target.port(), &public_only).await.unwrap_err();
//! assert!(err.is_forbidden());
//! assert_eq!(
//!     err.to_string(),
//!     "127.0.0.1 resolves to 127.0.0.1, in the non-public range loopback (127.0.0.0/8); \
//!      private destinations are not allowed"
//! );
//!
//! // A route with `allow_private` (of any kind: HTTP, TCP or CONNECT) may go there.
//! let private_ok = EgressPolicy { allow_private: true, ..public_only };
//! let stream = dial(target.host(), target.port(), &private_ok).await?;
//! assert_eq!(stream.peer_addr()?, listener.local_addr()?);
//! # Ok(())
//! # }
//! ```
//!
//! What it owns:
//!
//! - [`connect_target`]: the `host:port` an HTTP CONNECT request names.
//! - [`dial`]: the one dialer of every route kind (HTTP upstreams through
//!   `mtls-http-proxy`'s connector, TCP routes, CONNECT tunnels). It resolves the name
//!   **once**, refuses the destination if any address is
//!   refused by [`DestinationPolicy::check`](mtls_route_spec::DestinationPolicy::check) (the
//!   one rule, shared with route validation and the gateway's decision: public addresses
//!   always, non-public ranges only with `allow_private`), binds the egress address ([`EgressPolicy::egress_bind`]) and
//!   connects within [`EgressPolicy::dial_timeout`], only to the addresses it checked (no
//!   DNS rebinding window). [`DialError`] says why not, and classifies itself
//!   ([`DialError::is_forbidden`], [`DialError::is_timeout`]) for callers that answer a
//!   client.
//!
//! What it does not own: HTTP. Answering a CONNECT request (status codes, JSON error
//! bodies, the upgrade) is `mtls-http-proxy`'s job, and moving the bytes afterwards is
//! `mtls-splice`'s. The table of non-public ranges and the rule over it live in
//! `mtls-route-spec` ([`mtls_route_spec::SPECIAL_RANGES`], [`mtls_route_spec::non_public`]);
//! this crate applies them at dial
//! time, to every resolved address.

mod dial;
mod error;
mod local_address;
mod target;

pub use dial::{EgressPolicy, dial, literal_ip};
pub use error::DialError;
pub use local_address::{LocalAddressError, check_local_address};
pub use target::{ConnectTargetError, connect_target};
