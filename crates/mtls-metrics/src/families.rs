//! The metric families and their label sets (prometheus-client), every series labelled by
//! listener.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label value shared by many series (listener and tenant names): cloning it is a
/// reference-count increment, not an allocation.
pub type Name = Arc<str>;

/// `{listener}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// The listener's name.
    pub listener: Name,
}

/// `{listener, <name>}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// The listener's name.
    pub listener: Name,
    /// `client_to_upstream` or `upstream_to_client`.
    pub direction: &'static str,
}

/// `{listener, result}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// The listener's name.
    pub listener: Name,
    /// The result (`allow`/`deny`, `success`/`failure`).
    pub result: &'static str,
}

/// `{listener, reason}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The listener's name.
    pub listener: Name,
    /// Why it happened: a handshake failure class, or a refusal or close reason of gateway
    /// mode (`unknown_tenant`, `certificate_revoked`, ...).
    pub reason: &'static str,
}

/// `{listener, side}` (`inbound` or `upstream`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SideLabel {
    /// The listener's name.
    pub listener: Name,
    /// `inbound` or `upstream`.
    pub side: &'static str,
}

/// `{listener, identity, reason}`: one client-identity decision. Bounded: identity names
/// come from the config, reasons from [`mtls_resolver::Reason::as_str`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SelectionLabel {
    /// The listener's name.
    pub listener: Name,
    /// The client identity's name (`none` when no certificate is sent).
    pub identity: String,
    /// Why the resolver chose it ([`mtls_resolver::Reason::as_str`]).
    pub reason: &'static str,
}

/// `{listener, identity}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IdentityLabel {
    /// The listener's name.
    pub listener: Name,
    /// The client identity's name (from the config).
    pub identity: String,
}

/// `{listener, tenant}`. Bounded: tenant ids come from the registry (one series per tenant
/// that has connected to this listener).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// The listener's name.
    pub listener: Name,
    /// The tenant id.
    pub tenant: Name,
}

/// `{listener, tenant, limit}` (`max_connections` or `requests_per_second`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLimitLabel {
    /// The listener's name.
    pub listener: Name,
    /// The tenant id.
    pub tenant: Name,
    /// `max_connections` or `requests_per_second`.
    pub limit: &'static str,
}

/// `{listener, tenant, protocol, status}`: `protocol` is `http`, `connect` or `tcp`;
/// `status` a class (`2xx`..`5xx`) for HTTP, an outcome (`ok`, `error`, `no_route`,
/// `rate_limited`, `upstream_unreachable`) for TCP.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantRequestLabel {
    /// The listener's name.
    pub listener: Name,
    /// The tenant id.
    pub tenant: Name,
    /// `http`, `connect` or `tcp`.
    pub protocol: &'static str,
    /// A status class (`2xx`..) or a TCP outcome (`ok`, `no_route`, ..).
    pub status: &'static str,
}

/// Creates the series of `family` for every label set of `labels` at 0 (if not there yet).
///
/// For counters whose label values are known in advance (`result="failure"`, a refusal
/// reason): a series that only appears at its first increment has no earlier sample, so
/// `increase()` over it, and an alert on it, misses that first increment.
pub fn start_at_zero<L>(family: &Family<L, Counter>, labels: impl IntoIterator<Item = L>)
where
    L: Clone + std::hash::Hash + Eq,
{
    for label in labels {
        drop(family.get_or_create(&label));
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms .. ~9 h.
    Histogram::new(exponential_buckets(0.001, 4.0, 13))
}

fn handshake_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// All metrics of one process. Cheap to share (`Arc`), lock-free to update.
pub struct Metrics {
    /// The registry every family is registered in (prefix `mtlsd`).
    pub registry: Registry,
    /// `mtlsd_active_connections{listener}`.
    pub active_connections: Family<ListenerLabel, Gauge>,
    /// `mtlsd_connections_total{listener}`.
    pub connections: Family<ListenerLabel, Counter>,
    /// `mtlsd_connections_refused_total{listener}`.
    pub connections_refused: Family<ListenerLabel, Counter>,
    /// `mtlsd_bytes_proxied_total{listener, direction}`.
    pub bytes_proxied: Family<DirectionLabel, Counter>,
    /// `mtlsd_connection_duration_seconds{listener}`.
    pub connection_duration: HistogramFamily<ListenerLabel>,
    /// `mtlsd_acl_decisions_total{listener, result}`.
    pub acl_decisions: Family<ResultLabel, Counter>,
    /// `mtlsd_tls_handshake_duration_seconds{listener, side}`.
    pub handshake_duration: HistogramFamily<SideLabel>,
    /// `mtlsd_tls_handshake_failures_total{listener, reason}`.
    pub handshake_failures: Family<ReasonLabel, Counter>,
    /// `mtlsd_handshakes_refused_total{listener, reason}`: connections closed before their
    /// handshake because a handshake cap was reached.
    pub handshakes_refused: Family<ReasonLabel, Counter>,
    /// `mtlsd_dial_errors_total{listener}`.
    pub dial_errors: Family<ListenerLabel, Counter>,
    /// `mtlsd_connections_closed_total{listener, reason}`.
    pub connections_closed: Family<ReasonLabel, Counter>,
    /// `mtlsd_cert_reloads_total{listener, result}`.
    pub cert_reloads: Family<ResultLabel, Counter>,
    /// `mtlsd_cert_expiry_seconds{listener, side}`.
    pub cert_expiry: Family<SideLabel, Gauge>,
    /// `mtlsd_client_identity_selections_total{listener, identity, reason}`.
    pub identity_selections: Family<SelectionLabel, Counter>,
    /// `mtlsd_client_identity_expiry_seconds{listener, identity}`.
    pub identity_expiry: Family<IdentityLabel, Gauge>,
    /// `mtlsd_registry_version{listener}`.
    pub registry_version: Family<ListenerLabel, Gauge>,
    /// `mtlsd_registry_reloads_total{listener, result}`.
    pub registry_reloads: Family<ResultLabel, Counter>,
    /// `mtlsd_registry_read_age_seconds{listener}`.
    pub registry_read_age: Family<ListenerLabel, Gauge>,
    /// `mtlsd_registry_stale{listener}`.
    pub registry_stale: Family<ListenerLabel, Gauge>,
    /// `mtlsd_tenant_refusals_total{listener, reason}`.
    pub tenant_refusals: Family<ReasonLabel, Counter>,
    /// `mtlsd_tenant_connections_closed_total{listener, reason}`.
    pub tenant_connections_closed: Family<ReasonLabel, Counter>,
    /// `mtlsd_tenant_active_connections{listener, tenant}`.
    pub tenant_active_connections: Family<TenantLabel, Gauge>,
    /// `mtlsd_tenant_limited_total{listener, tenant, limit}`.
    pub tenant_limited: Family<TenantLimitLabel, Counter>,
    /// `mtlsd_tenant_requests_total{listener, tenant, protocol, status}`.
    pub tenant_requests: Family<TenantRequestLabel, Counter>,
    /// `mtlsd_log_lines_dropped_total`: log lines the process-wide log writer dropped
    /// because its queue was full. The writer keeps its own count; whoever serves `/metrics`
    /// brings this counter up to it with [`Metrics::sync_log_lines_dropped`] before encoding.
    pub log_lines_dropped: Counter,
}

// === impl Metrics ===

impl Metrics {
    /// Every family of `mtlsd`, registered under the prefix `mtlsd` with its help text and
    /// no series yet.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mtlsd");
        let m = Self {
            active_connections: Family::default(),
            connections: Family::default(),
            connections_refused: Family::default(),
            bytes_proxied: Family::default(),
            connection_duration: Family::new_with_constructor(duration_histogram),
            acl_decisions: Family::default(),
            handshake_duration: Family::new_with_constructor(handshake_histogram),
            handshake_failures: Family::default(),
            handshakes_refused: Family::default(),
            dial_errors: Family::default(),
            connections_closed: Family::default(),
            cert_reloads: Family::default(),
            cert_expiry: Family::default(),
            identity_selections: Family::default(),
            identity_expiry: Family::default(),
            registry_version: Family::default(),
            registry_reloads: Family::default(),
            registry_read_age: Family::default(),
            registry_stale: Family::default(),
            tenant_refusals: Family::default(),
            tenant_connections_closed: Family::default(),
            tenant_active_connections: Family::default(),
            tenant_limited: Family::default(),
            tenant_requests: Family::default(),
            log_lines_dropped: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "active_connections",
            "Connections currently open",
            m.active_connections.clone(),
        );
        registry.register("connections", "Connections accepted", m.connections.clone());
        registry.register(
            "connections_refused",
            "Connections closed at once because max_connections was reached (on_limit = refuse)",
            m.connections_refused.clone(),
        );
        registry.register(
            "bytes_proxied",
            "Bytes copied, by direction (client_to_upstream, upstream_to_client)",
            m.bytes_proxied.clone(),
        );
        registry.register(
            "connection_duration_seconds",
            "Lifetime of proxied connections",
            m.connection_duration.clone(),
        );
        registry.register(
            "acl_decisions",
            "ACL decisions after the inbound handshake (allow, deny)",
            m.acl_decisions.clone(),
        );
        registry.register(
            "tls_handshake_duration_seconds",
            "Duration of successful TLS handshakes, by side (inbound, upstream)",
            m.handshake_duration.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Failed TLS handshakes, by reason",
            m.handshake_failures.clone(),
        );
        registry.register(
            "handshakes_refused",
            "Connections closed before their TLS handshake because a handshake cap was reached, \
             by reason (max_handshakes, max_handshakes_per_source)",
            m.handshakes_refused.clone(),
        );
        registry.register(
            "dial_errors",
            "Failed or timed-out connections to the target",
            m.dial_errors.clone(),
        );
        registry.register(
            "connections_closed",
            "Open server- and bridge-mode connections the proxy closed, by reason \
             (certificate_expired: the client certificate's validity ended)",
            m.connections_closed.clone(),
        );
        registry.register(
            "cert_reloads",
            "Certificate reload attempts (success, failure)",
            m.cert_reloads.clone(),
        );
        registry.register(
            "cert_expiry_seconds",
            "Seconds until the loaded certificate expires, by side (inbound, upstream); \
             for the upstream side, the client identity that expires first",
            m.cert_expiry.clone(),
        );
        registry.register(
            "client_identity_selections",
            "Client identities chosen for upstream handshakes, by identity (\"none\" = no \
             certificate sent) and reason (matched_ca_name, server_name_preference, fallback, \
             none_available, no_signing_scheme)",
            m.identity_selections.clone(),
        );
        registry.register(
            "client_identity_expiry_seconds",
            "Seconds until each client identity's certificate expires",
            m.identity_expiry.clone(),
        );
        registry.register(
            "registry_version",
            "Version of the registry snapshot a gateway listener is serving",
            m.registry_version.clone(),
        );
        registry.register(
            "registry_reloads",
            "Registry snapshot reloads after a version change (success, failure)",
            m.registry_reloads.clone(),
        );
        registry.register(
            "registry_read_age_seconds",
            "Seconds since a gateway listener last read its registry successfully",
            m.registry_read_age.clone(),
        );
        registry.register(
            "registry_stale",
            "1 while a gateway listener's registry has been unreadable for longer than its \
             registry_staleness (it serves the last snapshot read; /readyz is 503), else 0",
            m.registry_stale.clone(),
        );
        registry.register(
            "tenant_refusals",
            "Gateway connections refused after the handshake, by reason (no_tenant, \
             admin_certificate, certificate_expired, certificate_not_yet_valid, unknown_tenant, tenant_suspended, \
             unknown_certificate, certificate_of_other_tenant, certificate_revoked, \
             max_connections)",
            m.tenant_refusals.clone(),
        );
        registry.register(
            "tenant_connections_closed",
            "Open gateway connections closed because a new registry snapshot refuses them (or their \
             certificate expired meanwhile), by reason",
            m.tenant_connections_closed.clone(),
        );
        registry.register(
            "tenant_active_connections",
            "Open gateway connections per tenant",
            m.tenant_active_connections.clone(),
        );
        registry.register(
            "tenant_limited",
            "Connections or requests refused by a per-tenant limit (max_connections, requests_per_second)",
            m.tenant_limited.clone(),
        );
        registry.register(
            "tenant_requests",
            "Gateway requests (http, connect) and TCP-route connections per tenant, by status class or outcome",
            m.tenant_requests.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because the log writer's queue was full (logging never blocks the proxy)",
            m.log_lines_dropped.clone(),
        );
        Self { registry, ..m }
    }

    /// Brings `mtlsd_log_lines_dropped_total` up to `dropped`, the log writer's own count of
    /// dropped lines (a count that only grows; a smaller value changes nothing).
    pub fn sync_log_lines_dropped(&self, dropped: u64) {
        let counted = self.log_lines_dropped.get();
        if dropped > counted {
            self.log_lines_dropped.inc_by(dropped - counted);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
