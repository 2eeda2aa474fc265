//! The Prometheus series of `mtlsd` and the handles its hot paths update.
//!
//! # Example
//!
//! Build the families, count a connection through a listener's handles and read the text
//! exposition `/metrics` serves:
//!
//! ```
//! use std::sync::Arc;
//!
//! use mtls_metrics::{ListenerMetrics, Metrics};
//!
//! let metrics = Arc::new(Metrics::new());
//! let api = ListenerMetrics::new(&metrics, "api");
//! api.connections.inc();
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &metrics.registry)?;
//! // Each family carries its help text; a family with no series yet is not shown.
//! assert!(text.contains("# HELP mtlsd_connections Connections accepted."));
//! assert!(!text.contains("mtlsd_tenant_refusals"));
//! assert!(text.contains("mtlsd_connections_total{listener=\"api\"} 1"));
//! // `encode` is the same text, for callers that do not want the `fmt::Result`.
//! assert_eq!(metrics.encode(), text);
//! # Ok::<(), std::fmt::Error>(())
//! ```
//!
//! This crate owns:
//!
//! - [`Metrics`]: every metric family of the process (prometheus-client), registered once
//!   with its name, help text and label set ([`ListenerLabel`], [`TenantLabel`], ...), every
//!   series labelled by listener;
//! - the handles resolved once so that per-connection and per-request paths update
//!   `Arc`-backed counters without label construction, family locks or allocation:
//!   [`ListenerMetrics`] per listener, [`TenantMetrics`] per tenant of a gateway listener
//!   (with [`Protocol`], [`Outcome`] and [`Limit`] as label values);
//! - [`SelectionMetrics`], the [`SelectionObserver`](mtls_resolver::SelectionObserver) that
//!   counts the client identities a resolver chooses.
//!
//! It does not serve `/metrics` (the gateway's admin listener does) and does not decide what
//! to count: the runtime (`mtls-gateway`) and gateway mode (`mtls-tenancy`) update the series.

mod families;
mod handles;
mod observe;

pub use families::{
    DirectionLabel, IdentityLabel, ListenerLabel, Metrics, Name, ReasonLabel, ResultLabel,
    SelectionLabel, SideLabel, TenantLabel, TenantLimitLabel, TenantRequestLabel, start_at_zero,
};
pub use handles::{Limit, ListenerMetrics, Outcome, Protocol, TenantMetrics};
pub use observe::SelectionMetrics;
