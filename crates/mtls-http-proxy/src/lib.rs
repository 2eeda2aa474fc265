//! The HTTP data path of multi-mtls-proxy: [`forward`] a request to a [`RouteTarget`], and
//! answer CONNECT requests with [`serve_connect`].
//!
//! ```
//! use std::sync::Arc;
//! use http_body_util::{BodyExt, Empty};
//! use hyper::body::Bytes;
//! use mtls_http_proxy::{forward, ForwardContext, ForwardInfo, ForwardedClientCert, RouteTarget, TargetOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An upstream port nobody listens on, on loopback: the route must allow private
//! // (non-public) upstream addresses, or every dial is refused with 403.
//! let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
//! let mut route = mtls_route_spec::HttpRoute::new(
//!     "api.acme.test".parse()?,
//!     vec![format!("http://127.0.0.1:{port}").parse()?],
//! );
//! route.allow_private = true;
//! // Once per route change:
//! let target = Arc::new(RouteTarget::from_route("api", &route, &TargetOptions::default(), None)?);
//!
//! // Once per client connection (the DER is the verified client certificate):
//! # let key = rcgen::KeyPair::generate()?;
//! # let der = rcgen::CertificateParams::new(Vec::<String>::new())?.self_signed(&key)?.der().to_vec();
//! let ctx = ForwardContext {
//!     tenant: "acme".parse()?,
//!     client_ip: "192.0.2.7".parse()?,
//!     client_cert: ForwardedClientCert::from_der(&der, Some("spiffe://proxy.test/tenant/acme"))?,
//! };
//!
//! // Per request (in the gateway's hyper service):
//! let request = http::Request::get("/v1/items")
//!     .header("host", "api.acme.test")
//!     .body(Empty::<Bytes>::new())?;
//! let response = forward(request, &ctx, &target).await;
//! assert_eq!(response.status(), 502);
//! let info = response.extensions().get::<ForwardInfo>().unwrap().clone();
//! assert_eq!(info.error.unwrap().as_str(), "upstream_unreachable");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert!(body.starts_with(br#"{"error":"upstream_unreachable","message":"upstream http://127.0.0.1:"#));
//! # Ok(())
//! # }
//! ```
//!
//! The gateway terminates mTLS, finds the tenant's route, compiles it once into a
//! [`RouteTarget`] (round-robin [`UpstreamPool`] that skips failing upstreams, a pooled
//! [`HttpUpstreamClient`] over plain TCP or TLS with optional client identity, header
//! rewrite, timeout, body limit) and calls [`forward`] per request with a
//! [`ForwardContext`] built once per connection. [`forward`] streams the request and its
//! response, rewrites headers as [`headers`] describes (including Envoy-style
//! `x-forwarded-client-cert`, see [`ForwardedClientCert`]), and joins upgraded (WebSocket)
//! connections. Errors the client sees are JSON bodies from [`error_response`], which the
//! gateway also uses for its own refusals (`no_route`, `rate_limited`).
//!
//! [`serve_connect`] answers a CONNECT request whose destination the gateway has matched:
//! it dials with [`mtls_egress::dial`], maps a refusal to a 403/502/504 JSON response
//! ([`ProxyErrorKind`] implements `From<&DialError>`), and otherwise answers `200` and
//! splices the upgraded connection.
//!
//! What it does not own: which destination addresses are acceptable and how they are
//! dialed (`mtls-egress`), the byte pump of tunnels and upgrades (`mtls-splice`), route
//! matching (`mtls-router`) and everything per connection or per tenant, like TLS
//! termination, rate limits and access logs (`mtls-gateway`).
//!
//! Measured on a 2-core build box (release, `cargo bench -p mtls-http-proxy --bench proxy`):
//! rewriting a typical 10-header request costs about 1.1 µs, an upstream pick about 40 ns,
//! and building the `x-forwarded-client-cert` value (once per connection) about 3.7 µs.
//!
//! [`DialError`]: mtls_egress::DialError

mod authority;
mod body;
mod connect;
mod error;
mod forward;
mod framing;
pub mod headers;
mod preface;
mod target;
mod upstream;
mod xfcc;

pub use authority::{AuthorityError, authority_of, request_authority};
pub use body::{BodyTooLarge, BoxError, ProxyBody, empty_body, full_body};
pub use connect::{ConnectResponse, serve_connect};
pub use error::{ProxyErrorKind, error_response};
pub use forward::{ForwardInfo, forward};
pub use framing::{FramingError, check_request_framing, close_after, framing_of};
pub use headers::{ForwardedFor, HeaderRewrite};
pub use preface::{H2_PREFACE, PrefaceError, PrefacedIo, bad_preface_reply, expect_h2_preface};
pub use target::{
    DEFAULT_ROUTE_TIMEOUT, DEFAULT_UPGRADE_IDLE_TIMEOUT, ForwardContext, RouteTarget,
    RouteTargetError, TargetOptions,
};
pub use upstream::client::{
    DEFAULT_DIAL_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT, HttpUpstreamClient, UpstreamClientSettings,
};
pub use upstream::connector::UpstreamCounters;
pub use upstream::pool::{DEFAULT_FAILURE_COOLDOWN, EmptyPool, UpstreamPool};
pub use upstream::tls::{UpstreamClientError, UpstreamTlsSettings, parse_server_name};
pub use xfcc::{ClientCertError, ForwardedClientCert};
