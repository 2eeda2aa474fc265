//! The client of the multi-mtls-proxy control-plane API: what `tenantctl --server` uses, and
//! what an app embeds to enroll, renew its own certificate and manage its routes.
//!
//! - [`ControlClient`]: one async method per endpoint, returning the
//!   [`mtls_control_api`] types. It speaks HTTPS with our own rustls config (TLS 1.2+, the
//!   given CA bundle as the only roots, the client certificate from [`TlsMaterial`]).
//! - [`enroll`]: a key generated here, a CSR and a one-time token to `POST /v1/enroll`, the
//!   bundle written into a new directory.
//! - [`renew_in_place`]: a new key and certificate for the directory, installed with one
//!   atomic symlink swap ([`cert_dir`] explains the layout and why).
//! - [`renew_loop`]: renews at 2/3 of the lifetime ([`renewal_time`]) with bounded
//!   exponential backoff ([`Backoff`]) until a shutdown future completes.
//! - [`ClientError`]: the server's `{"error": {"code", "message"}}` as
//!   [`ClientError::Api`], transport failures naming the URL, files naming the path.
//!
//! # Example
//!
//! The schedule is pure:
//!
//! ```
//! use std::time::Duration;
//! use time::macros::datetime;
//! use mtls_control_client::{Backoff, delay_until, renewal_time};
//!
//! let due = renewal_time(datetime!(2026-12-01 00:00 UTC), datetime!(2026-12-04 00:00 UTC));
//! assert_eq!(due, datetime!(2026-12-03 00:00 UTC));
//! assert_eq!(delay_until(due, datetime!(2026-12-02 23:00 UTC)), Duration::from_secs(3600));
//! assert_eq!(Backoff::default().delay(3), Duration::from_secs(8));
//! ```
//!
//! An app that onboards itself and keeps its certificate fresh (needs a server):
//!
//! ```no_run
//! use std::path::Path;
//! use mtls_control_client::{
//!     ControlClient, LoopOptions, RenewEvent, TlsMaterial, enroll, renew_loop,
//! };
//!
//! # async fn run() -> Result<(), mtls_control_client::ClientError> {
//! let server = "https://control.example:9443";
//! let dir = Path::new("/var/lib/app/mtls");
//! if !dir.join("cert.pem").exists() {
//!     let ca = std::fs::read("/etc/app/proxy-ca.pem").expect("CA bundle");
//!     let token = std::env::var("MTLS_ENROLL_TOKEN").expect("token");
//!     enroll(server, &ca, &token, dir, mtls_ca::KeyAlgorithm::EcdsaP256).await?;
//! }
//!
//! // Manage routes with the tenant's own certificate.
//! let tls = TlsMaterial::from_files(
//!     &dir.join("ca.pem"),
//!     Some((&dir.join("cert.pem"), &dir.join("key.pem"))),
//! )?;
//! let client = ControlClient::new(server, &tls)?;
//! let me = client.whoami().await?;
//! let spec = serde_json::json!({
//!     "kind": "http", "host": "api.example.com", "path_prefix": "/",
//!     "upstreams": ["https://backend.example.com"],
//! });
//! client.add_route(&me.name, &spec).await?;
//!
//! // Renew at 2/3 of the lifetime until Ctrl-C.
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! renew_loop(server, dir, &LoopOptions::default(), shutdown, |event| {
//!     if let RenewEvent::Renewed(outcome) = event {
//!         eprintln!("renewed: {}", outcome.issued.serial);
//!     }
//! })
//! .await
//! # }
//! ```

pub mod cert_dir;
mod client;
mod error;
mod lifecycle;
mod material;
mod schedule;

pub use cert_dir::{CertFiles, read_current};
pub use client::{
    AuditQuery, ControlClient, CrlFormat, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT,
    parse_server_url,
};
pub use error::{ClientError, error_from_response};
pub use lifecycle::{
    EnrolledBundle, LoopOptions, RenewEvent, RenewOptions, RenewOutcome, enroll, renew_in_place,
    renew_loop, renew_loop_with_clock,
};
pub use material::{LeafFacts, TlsMaterial, pair_matches};
pub use schedule::{Backoff, delay_until, renewal_time};
