//! TCP routes: the TLS server name picks the tenant's route; bytes are spliced.

use std::sync::Arc;

use mtls_egress::{EgressPolicy, dial};
use mtls_metrics::{Limit, Outcome, Protocol};
use mtls_splice::{SpliceConfig, SpliceEnd, splice};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::chain::ErrorChain;
use crate::session::{ServerTls, Session};
use crate::view::View;

fn count(session: &Session, outcome: Outcome) {
    session.admitted.metrics.request(Protocol::Tcp, outcome);
}

/// Routes `tls` by `sni` within the session's tenant, dials one upstream (round-robin, with
/// the route's egress address) and splices until either side is done.
pub(super) async fn serve(session: &Session, tls: ServerTls, view: Arc<View>, sni: Option<&str>) {
    let started = Instant::now();
    let listener = session.listener();
    let tenant = &session.tenant;
    let peer = session.peer;
    let Some(sni) = sni else {
        count(session, Outcome::NoRoute);
        warn!(listener, %peer, %tenant, "TCP connection refused: no server name (SNI) to route by");
        return;
    };
    let (route, upstream, egress, allow_private) = match view.policy.route_tcp(tenant, sni) {
        Ok(m) => {
            let index = view.next_tcp_upstream(m.key, m.route.upstreams.len());
            (
                m.key.clone(),
                m.route.upstreams[index].clone(),
                view.policy.egress_of(tenant, m.key),
                m.route.allow_private,
            )
        }
        Err(miss) => {
            count(session, Outcome::NoRoute);
            warn!(listener, %peer, %tenant, reason = miss.as_str(), error = %miss.for_tcp(tenant, sni), "TCP connection refused");
            return;
        }
    };
    let allowed = session.limiter(&view).allow_request();
    drop(view);
    if !allowed {
        session.admitted.metrics.limited(Limit::RequestsPerSecond);
        count(session, Outcome::RateLimited);
        warn!(listener, %peer, %tenant, %route, "TCP connection refused: the tenant is over its requests_per_second limit");
        return;
    }
    // The shared dialer: one lookup, every address checked against the route's
    // allow_private, connect only to those. A refusal closes the client's connection.
    let policy = EgressPolicy {
        allow_private,
        egress_bind: egress.address,
        dial_timeout: session.dial_timeout,
    };
    let egress_from = egress.origin.as_str();
    let counters = &session.tenancy.compiler.options.counters;
    let up = match dial(upstream.host(), upstream.port(), &policy).await {
        Ok(up) => up,
        Err(e) => {
            counters.dial_errors.inc();
            if let Some(egress) = e.unbindable_egress() {
                count(session, Outcome::UpstreamUnreachable);
                warn!(listener, %peer, %tenant, %route, %upstream, %egress, egress_from, reason = "egress_unavailable", error = %ErrorChain(&e), "TCP route not dialed: the egress source address cannot be bound");
            } else if e.is_forbidden() {
                count(session, Outcome::DestinationForbidden);
                warn!(listener, %peer, %tenant, %route, %upstream, reason = "destination_forbidden", error = %ErrorChain(&e), "TCP route refused: the upstream is not a permitted destination");
            } else {
                count(session, Outcome::UpstreamUnreachable);
                warn!(listener, %peer, %tenant, %route, %upstream, error = %ErrorChain(&e), "TCP route: cannot reach the upstream");
            }
            return;
        }
    };
    let source = up
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let summary = splice(tls, up, SpliceConfig::new(session.idle_timeout)).await;
    counters
        .client_to_upstream
        .inc_by(summary.client_to_upstream);
    counters
        .upstream_to_client
        .inc_by(summary.upstream_to_client);
    count(
        session,
        if summary.end.is_error() {
            Outcome::Error
        } else {
            Outcome::Ok
        },
    );
    let error = match &summary.end {
        SpliceEnd::Error { source, .. } => ErrorChain(source).to_string(),
        _ => String::new(),
    };
    info!(
        listener, %peer, %tenant, protocol = "tcp", %route, %upstream, egress = %source, egress_from, sni,
        bytes_in = summary.client_to_upstream, bytes_out = summary.upstream_to_client,
        duration_ms = started.elapsed().as_millis() as u64, end = summary.end.label(), error,
        "access"
    );
}
