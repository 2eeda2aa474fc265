//! The upstream side of a route: the round-robin [`UpstreamPool`](crate::UpstreamPool), the
//! pooled [`HttpUpstreamClient`](crate::HttpUpstreamClient), the connector under it, and
//! TLS origination.

pub(crate) mod client;
pub(crate) mod connector;
pub(crate) mod pool;
pub(crate) mod tls;
