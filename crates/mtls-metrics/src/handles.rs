//! Metric handles resolved once, so the per-connection and per-request paths update
//! Arc-backed counters directly: no label construction, no family lock, no allocation.
//!
//! [`ListenerMetrics`] is resolved when a listener's state is built; [`TenantMetrics`] when a
//! registry view first holds a tenant (and reused with its limiter while the tenant's limits
//! stay unchanged). Per-tenant series are created lazily, on first use, so the exposition
//! only shows tenants that actually used the listener.

use std::sync::{Arc, OnceLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::families::{
    DirectionLabel, ListenerLabel, Metrics, Name, ResultLabel, SideLabel, TenantLabel,
    TenantLimitLabel, TenantRequestLabel,
};

/// The series of one listener that do not depend on anything but the listener.
pub struct ListenerMetrics {
    /// The listener's name.
    pub name: Name,
    /// `mtlsd_connections_total` of the listener.
    pub connections: Counter,
    /// `mtlsd_active_connections` of the listener.
    pub active_connections: Gauge,
    /// `mtlsd_connections_refused_total` of the listener.
    pub connections_refused: Counter,
    /// `mtlsd_connection_duration_seconds` of the listener.
    pub connection_duration: Histogram,
    /// `mtlsd_dial_errors_total` of the listener.
    pub dial_errors: Counter,
    /// `mtlsd_bytes_proxied_total{direction="client_to_upstream"}`.
    pub bytes_client_to_upstream: Counter,
    /// `mtlsd_bytes_proxied_total{direction="upstream_to_client"}`.
    pub bytes_upstream_to_client: Counter,
    /// `mtlsd_tls_handshake_duration_seconds{side="inbound"}`.
    pub handshake_inbound: Histogram,
    /// `mtlsd_tls_handshake_duration_seconds{side="upstream"}`.
    pub handshake_upstream: Histogram,
    /// `mtlsd_acl_decisions_total{result="allow"}`.
    pub acl_allow: Counter,
    /// `mtlsd_acl_decisions_total{result="deny"}`.
    pub acl_deny: Counter,
}

// === impl ListenerMetrics ===

impl ListenerMetrics {
    /// Resolves every per-listener series of `name` (creating them at zero).
    pub fn new(metrics: &Metrics, name: &str) -> Self {
        let name: Name = name.into();
        let label = ListenerLabel {
            listener: name.clone(),
        };
        let direction = |direction| DirectionLabel {
            listener: name.clone(),
            direction,
        };
        let side = |side| SideLabel {
            listener: name.clone(),
            side,
        };
        let acl = |result| ResultLabel {
            listener: name.clone(),
            result,
        };
        // One statement per series: `get_or_create` returns a read guard that lives until
        // the end of its statement, and creating a second series of the same family while
        // it is held would deadlock.
        let connections = metrics.connections.get_or_create(&label).clone();
        let active_connections = metrics.active_connections.get_or_create(&label).clone();
        let connections_refused = metrics.connections_refused.get_or_create(&label).clone();
        let connection_duration = metrics.connection_duration.get_or_create(&label).clone();
        let dial_errors = metrics.dial_errors.get_or_create(&label).clone();
        let bytes_client_to_upstream = metrics
            .bytes_proxied
            .get_or_create(&direction("client_to_upstream"))
            .clone();
        let bytes_upstream_to_client = metrics
            .bytes_proxied
            .get_or_create(&direction("upstream_to_client"))
            .clone();
        let handshake_inbound = metrics
            .handshake_duration
            .get_or_create(&side("inbound"))
            .clone();
        let handshake_upstream = metrics
            .handshake_duration
            .get_or_create(&side("upstream"))
            .clone();
        let acl_allow = metrics.acl_decisions.get_or_create(&acl("allow")).clone();
        let acl_deny = metrics.acl_decisions.get_or_create(&acl("deny")).clone();
        Self {
            name,
            connections,
            active_connections,
            connections_refused,
            connection_duration,
            dial_errors,
            bytes_client_to_upstream,
            bytes_upstream_to_client,
            handshake_inbound,
            handshake_upstream,
            acl_allow,
            acl_deny,
        }
    }
}

/// The protocol of a counted gateway request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// An HTTP request.
    Http,
    /// A CONNECT tunnel.
    Connect,
    /// A TCP-route connection.
    Tcp,
}

// === impl Protocol ===

impl Protocol {
    const ALL: [Self; 3] = [Self::Http, Self::Connect, Self::Tcp];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Connect => "connect",
            Self::Tcp => "tcp",
        }
    }
}

/// The `status` label of `mtlsd_tenant_requests_total`: a status class for HTTP and
/// CONNECT, an outcome for TCP routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `1xx`.
    Informational,
    /// `2xx`.
    Success,
    /// `3xx`.
    Redirection,
    /// `4xx`.
    ClientError,
    /// `5xx`.
    ServerError,
    /// `ok`: a TCP route served.
    Ok,
    /// `error`: a TCP route failed.
    Error,
    /// `no_route`.
    NoRoute,
    /// `rate_limited`.
    RateLimited,
    /// `upstream_unreachable`.
    UpstreamUnreachable,
    /// `destination_forbidden`: a TCP route's upstream is not a permitted destination.
    DestinationForbidden,
}

// === impl Outcome ===

impl Outcome {
    const COUNT: usize = 11;

    /// The class of an HTTP status code.
    pub fn of_status(status: u16) -> Self {
        match status {
            100..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "1xx",
            Self::Success => "2xx",
            Self::Redirection => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
            Self::Ok => "ok",
            Self::Error => "error",
            Self::NoRoute => "no_route",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::DestinationForbidden => "destination_forbidden",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which per-tenant limit refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_connections`.
    MaxConnections,
    /// `requests_per_second`.
    RequestsPerSecond,
}

// === impl Limit ===

impl Limit {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxConnections => "max_connections",
            Self::RequestsPerSecond => "requests_per_second",
        }
    }
}

/// The series of one tenant on one listener, each created on first use.
pub struct TenantMetrics {
    metrics: Arc<Metrics>,
    listener: Name,
    tenant: Name,
    active: OnceLock<Gauge>,
    limited: [OnceLock<Counter>; 2],
    requests: [[OnceLock<Counter>; Outcome::COUNT]; 3],
}

// === impl TenantMetrics ===

impl TenantMetrics {
    /// The handles of `tenant` on `listener`; no series is created before its first use.
    pub fn new(metrics: Arc<Metrics>, listener: Name, tenant: Name) -> Self {
        Self {
            metrics,
            listener,
            tenant,
            active: OnceLock::new(),
            limited: Default::default(),
            requests: Default::default(),
        }
    }

    /// `mtlsd_tenant_active_connections{listener, tenant}`.
    pub fn active(&self) -> &Gauge {
        self.active.get_or_init(|| {
            self.metrics
                .tenant_active_connections
                .get_or_create(&TenantLabel {
                    listener: self.listener.clone(),
                    tenant: self.tenant.clone(),
                })
                .clone()
        })
    }

    /// Counts a refusal by `limit`.
    pub fn limited(&self, limit: Limit) {
        self.limited[limit as usize]
            .get_or_init(|| {
                self.metrics
                    .tenant_limited
                    .get_or_create(&TenantLimitLabel {
                        listener: self.listener.clone(),
                        tenant: self.tenant.clone(),
                        limit: limit.as_str(),
                    })
                    .clone()
            })
            .inc();
    }

    /// Counts one request (or TCP-route connection) of `protocol` that ended in `outcome`.
    pub fn request(&self, protocol: Protocol, outcome: Outcome) {
        let row = Protocol::ALL
            .iter()
            .position(|p| *p == protocol)
            .unwrap_or_default();
        self.requests[row][outcome.index()]
            .get_or_init(|| {
                self.metrics
                    .tenant_requests
                    .get_or_create(&TenantRequestLabel {
                        listener: self.listener.clone(),
                        tenant: self.tenant.clone(),
                        protocol: protocol.as_str(),
                        status: outcome.as_str(),
                    })
                    .clone()
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_log_lines_follow_the_writers_count() {
        let metrics = Metrics::new();
        assert!(
            metrics
                .encode()
                .contains("mtlsd_log_lines_dropped_total 0\n"),
            "the counter exists at 0 from start-up"
        );
        metrics.sync_log_lines_dropped(7);
        metrics.sync_log_lines_dropped(7);
        assert!(
            metrics
                .encode()
                .contains("mtlsd_log_lines_dropped_total 7\n")
        );
        // The writer's count only grows: an older, smaller reading changes nothing.
        metrics.sync_log_lines_dropped(3);
        metrics.sync_log_lines_dropped(9);
        let text = metrics.encode();
        assert!(text.contains("mtlsd_log_lines_dropped_total 9\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[test]
    fn handles_update_the_exposed_series() {
        let metrics = Arc::new(Metrics::new());
        let listener = ListenerMetrics::new(&metrics, "gw");
        listener.connections.inc();
        listener.acl_deny.inc();
        listener.bytes_upstream_to_client.inc_by(7);
        let tenant = TenantMetrics::new(metrics.clone(), "gw".into(), "a".into());
        tenant.request(Protocol::Tcp, Outcome::NoRoute);
        tenant.request(Protocol::Http, Outcome::of_status(204));
        tenant.request(Protocol::Http, Outcome::of_status(204));
        tenant.limited(Limit::RequestsPerSecond);
        tenant.active().inc();
        let text = metrics.encode();
        for line in [
            "mtlsd_connections_total{listener=\"gw\"} 1",
            "mtlsd_acl_decisions_total{listener=\"gw\",result=\"deny\"} 1",
            "mtlsd_bytes_proxied_total{listener=\"gw\",direction=\"upstream_to_client\"} 7",
            "mtlsd_tenant_requests_total{listener=\"gw\",tenant=\"a\",protocol=\"tcp\",status=\"no_route\"} 1",
            "mtlsd_tenant_requests_total{listener=\"gw\",tenant=\"a\",protocol=\"http\",status=\"2xx\"} 2",
            "mtlsd_tenant_limited_total{listener=\"gw\",tenant=\"a\",limit=\"requests_per_second\"} 1",
            "mtlsd_tenant_active_connections{listener=\"gw\",tenant=\"a\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        // Series of a tenant are created on first use only.
        assert!(!text.contains("status=\"5xx\""));
    }
}
