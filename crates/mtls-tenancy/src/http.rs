//! HTTP on a gateway connection: hyper (HTTP/1.1 and h2, upgrades), per-request routing,
//! the tenant's rate limit, CONNECT egress, one access-log line per request.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use mtls_egress::{EgressPolicy, connect_target};
use mtls_http_proxy::{
    ForwardInfo, PrefaceError, PrefacedIo, ProxyBody, ProxyErrorKind, check_request_framing,
    close_after, error_response, expect_h2_preface, forward, request_authority, serve_connect,
};
use mtls_metrics::{Limit, Outcome, Protocol};
use mtls_policy::HttpRefusal;
use mtls_splice::SpliceConfig;
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::chain::ErrorChain;
use crate::held::Held;
use crate::limiter::{ConnectionSlot, TenantLimiter};
use crate::revocable::{Activity, Revocable};
use crate::session::{Live, ServerTls, Session};

/// Serves HTTP requests on `tls` until the client closes or the connection fails.
///
/// Nothing of hyper's (its connection state, its read and write buffers) exists before the
/// client has sent something: an HTTP/1 connection waits for its first bytes with only its
/// TLS state, bounded by `request_timeout` like hyper's own wait for a request head, and
/// an h2 connection first proves its preface. The hyper connection then lives in an
/// allocation of its own, so the connection task stays small while it waits.
pub(super) async fn serve(session: Arc<Session>, mut tls: ServerTls, live: Arc<Live>) {
    let settings = session.tenancy.settings;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    // ALPN chose h2: anything but the HTTP/2 preface gets a GOAWAY, never an HTTP/1 answer.
    let tls = if h2 {
        match expect_h2_preface(tls, settings.request_timeout).await {
            Ok(tls) => tls,
            Err(PrefaceError::Timeout(idle)) => {
                info!(listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, ?idle, "closing idle HTTP/2 connection before its preface");
                return;
            }
            Err(e) => {
                info!(listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, error = %e, "closing h2 connection without a valid preface");
                return;
            }
        }
    } else {
        match tokio::time::timeout(settings.request_timeout, tls.fill_buf()).await {
            // Closed before sending anything.
            Ok(Ok([])) => return,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                info!(listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, error = %ErrorChain(&e), "HTTP connection ended with an error");
                return;
            }
            Err(_) => {
                info!(listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, idle = ?settings.request_timeout, "closing idle HTTP connection before its first request");
                return;
            }
        }
        PrefacedIo::passthrough(tls)
    };
    Box::pin(serve_hyper(session, tls, live, h2)).await;
}

/// The hyper half of [`serve`], once the client has sent its first bytes.
async fn serve_hyper(session: Arc<Session>, tls: PrefacedIo<ServerTls>, live: Arc<Live>, h2: bool) {
    let settings = session.tenancy.settings;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.request_timeout)
        .max_buf_size(settings.max_header_bytes);
    // HTTP/2: while streams are open, a PING every request_timeout must be answered within
    // request_timeout; with no stream open no PING is sent, so a connection that moves no
    // byte for request_timeout is idle and closed below (like HTTP/1's wait for a head).
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(settings.request_timeout)
        .keep_alive_timeout(settings.request_timeout)
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    // Upgraded connections outlive this task: the wrapper closes them on revocation too.
    // The stream holds `live` (the tenant's and the listener's slots, the drain guard) for
    // as long as it exists, wherever hyper moves it, and counts its bytes.
    let refused = session.until_refused();
    let activity = Arc::new(Activity::new());
    let held = Held::new(tls, session.client_io.clone(), live.clone());
    let io = Revocable::new(
        held,
        async move {
            live.closed(refused.await);
        },
        activity.clone(),
    );
    let service_session = session.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let session = service_session.clone();
        async move { Ok::<_, Infallible>(request(session, req).await) }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let idle = async {
        if h2 {
            activity.idle(settings.request_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = idle => {
            info!(listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, idle = ?settings.request_timeout, "closing idle HTTP/2 connection");
            conn.as_mut().graceful_shutdown();
            // GOAWAY to a silent client; it gets a moment, not forever.
            match tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(e) = result {
        info!(listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, error = %ErrorChain(&*e), "HTTP connection ended with an error");
    }
}

/// What the access-log line of one request says; logged when the response body is done,
/// or for a CONNECT tunnel or an upgraded (WebSocket) connection when it closes, with the
/// bytes it moved and its whole duration.
struct AccessLine {
    session: Arc<Session>,
    /// `http`, `connect` or `websocket`.
    protocol: &'static str,
    method: Method,
    host: String,
    /// The normalised path when there is one, else the path as received.
    path: String,
    /// The path as received, when it differs from `path`; else empty.
    raw_path: String,
    route: String,
    upstream: String,
    /// The source address of the upstream connection: as seen on the connection once one
    /// is made, else the address the route was to bind (empty for the host's default).
    egress: String,
    /// Which setting chose the source address: `route`, `tenant` or `default`; empty when
    /// no route was found.
    egress_from: &'static str,
    error: &'static str,
    status: u16,
    /// Bytes from the client: tunnel and WebSocket bytes (request bodies are not counted).
    bytes_in: u64,
    bytes_out: u64,
    /// How a tunnel ended (`mtls_splice::SpliceEnd::label`), empty otherwise.
    end: &'static str,
    started: Instant,
}

// === impl AccessLine ===

impl AccessLine {
    /// What a closed tunnel moved, and how it ended.
    fn tunnel_closed(&mut self, bytes_in: u64, bytes_out: u64, end: &'static str) {
        self.bytes_in = bytes_in;
        self.bytes_out = bytes_out;
        self.end = end;
    }
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        let session = &self.session;
        info!(
            listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, protocol = self.protocol,
            method = %self.method, host = %self.host, path = %self.path, raw_path = %self.raw_path, route = %self.route,
            upstream = %self.upstream, egress = %self.egress, egress_from = self.egress_from,
            status = self.status, error = self.error,
            bytes_in = self.bytes_in, bytes_out = self.bytes_out, end = self.end,
            duration_ms = self.started.elapsed().as_millis() as u64,
            "access"
        );
    }
}

/// Fills the line from the response head and counts the request.
fn record(line: &mut AccessLine, parts: &http::response::Parts) {
    line.status = parts.status.as_u16();
    if let Some(info) = parts.extensions.get::<ForwardInfo>() {
        if let Some(up) = &info.upstream {
            line.upstream = up.to_string();
        }
        if let Some(source) = info.source {
            line.egress = source.to_string();
        }
        if let Some(error) = info.error {
            line.error = error.as_str();
        }
    } else if let Some(kind) = parts.extensions.get::<ProxyErrorKind>() {
        line.error = kind.as_str();
    }
    let protocol = if line.method == Method::CONNECT {
        Protocol::Connect
    } else {
        Protocol::Http
    };
    line.session
        .admitted
        .metrics
        .request(protocol, Outcome::of_status(line.status));
}

/// Counts the response, and logs the access line once its body has been sent (or dropped);
/// for an upgraded (WebSocket) connection, once the upgraded stream closes.
fn finish(mut line: AccessLine, response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (parts, body) = response.into_parts();
    record(&mut line, &parts);
    if parts
        .extensions
        .get::<ForwardInfo>()
        .is_some_and(|info| info.upgraded)
    {
        // The client stream (which holds the connection) goes to the upgraded connection:
        // the line reports what moved on it after this response, when it is dropped.
        line.protocol = "websocket";
        let io = line.session.client_io.clone();
        let (read, written) = (io.read(), io.written());
        io.on_close(move |io| {
            line.tunnel_closed(
                io.read().saturating_sub(read),
                io.written().saturating_sub(written),
                "closed",
            );
        });
        return Response::from_parts(parts, body);
    }
    let body = body
        .map_frame(move |frame| {
            // Capture the whole line (not just the counter): it logs when the body drops.
            let line = &mut line;
            if let Some(data) = frame.data_ref() {
                line.bytes_out += data.len() as u64;
            }
            frame
        })
        .boxed_unsync();
    Response::from_parts(parts, body)
}

/// The gateway's own JSON refusal, tagged with its kind for the access log.
fn refusal(kind: ProxyErrorKind, message: &str, route: Option<&str>) -> Response<ProxyBody> {
    let mut response = error_response(kind, message, route);
    response.extensions_mut().insert(kind);
    response
}

async fn request(session: Arc<Session>, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let view = session.tenancy.current();
    // One authority for routing, the access log and x-forwarded-host; two hosts are a 400.
    let authority = request_authority(&req);
    let host = match &authority {
        Ok(Some(a)) => a.to_string(),
        _ => String::new(),
    };
    let mut line = AccessLine {
        session: session.clone(),
        protocol: if req.method() == Method::CONNECT {
            "connect"
        } else {
            "http"
        },
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        raw_path: String::new(),
        host,
        route: String::new(),
        upstream: String::new(),
        egress: String::new(),
        egress_from: "",
        error: "",
        status: 0,
        bytes_in: 0,
        bytes_out: 0,
        end: "",
        started: Instant::now(),
    };
    if let Err(e) = &authority {
        return finish(line, refusal(ProxyErrorKind::from(e), &e.to_string(), None));
    }
    // Smuggling forms hyper's parser lets through (both Content-Length and
    // Transfer-Encoding, chunked twice): refused before routing, and the connection closes.
    if let Err(e) = check_request_framing(&req) {
        let response = refusal(ProxyErrorKind::from(&e), &e.to_string(), None);
        return finish(line, close_after(response));
    }
    let tenant = &session.tenant;
    let limiter = session.limiter(&view);
    if !limiter.allow_request() {
        limiter.metrics.limited(Limit::RequestsPerSecond);
        let message = format!(
            "tenant {tenant} is over its limit of {} requests per second",
            limiter.limits().requests_per_second.unwrap_or_default()
        );
        return finish(line, refusal(ProxyErrorKind::RateLimited, &message, None));
    }

    if req.method() == Method::CONNECT {
        let target = match connect_target(&req) {
            Ok(t) => t,
            Err(e) => {
                let response = refusal(ProxyErrorKind::from(&e), &e.to_string(), None);
                return finish(line, response);
            }
        };
        // The destination verdict is applied by the dialer to every address the host
        // resolves to (an IP literal included), with the same rule the decision reports.
        let found = view
            .policy
            .route_connect(tenant, target.host(), target.port())
            .map(|d| {
                let m = d.matched;
                (
                    m.key.clone(),
                    m.allow_private(),
                    view.policy.egress_of(tenant, m.key),
                )
            });
        let (route, allow_private, egress) = match found {
            Ok(found) => found,
            Err(miss) => {
                let message = format!(
                    "{} ({})",
                    miss.for_connect(tenant, target.host(), target.port()),
                    miss.as_str()
                );
                warn!(listener = session.listener(), peer = %session.peer, %tenant, destination = %target, reason = miss.as_str(), "CONNECT refused");
                return finish(line, refusal(ProxyErrorKind::Forbidden, &message, None));
            }
        };
        // Over HTTP/2 tunnels share one connection: each one beyond the first counts as one
        // more connection of the tenant.
        let claim = match TunnelClaim::take(&session, limiter, req.version()) {
            Ok(claim) => claim,
            Err(message) => {
                return finish(line, refusal(ProxyErrorKind::RateLimited, &message, None));
            }
        };
        drop(view);
        line.route = route.to_string();
        line.upstream = target.to_string();
        line.egress_from = egress.origin.as_str();
        line.egress = egress.address.map(|a| a.to_string()).unwrap_or_default();
        let policy = EgressPolicy {
            allow_private,
            egress_bind: egress.address,
            dial_timeout: session.dial_timeout,
        };
        let served = serve_connect(
            req,
            &target,
            &policy,
            Some(route.as_str()),
            SpliceConfig::new(session.idle_timeout),
        )
        .await;
        if let Some(source) = served.source {
            line.egress = source.to_string();
        }
        if let Some(e) = &served.error {
            session.tenancy.compiler.options.counters.dial_errors.inc();
            line.error = ProxyErrorKind::from(e).as_str();
            if let Some(egress) = e.unbindable_egress() {
                warn!(listener = session.listener(), peer = %session.peer, %tenant, %route, destination = %target, %egress, reason = "egress_unavailable", error = %ErrorChain(e), "CONNECT not dialed: the egress source address cannot be bound");
            } else {
                warn!(listener = session.listener(), peer = %session.peer, %tenant, %route, destination = %target, error = %ErrorChain(e), "CONNECT refused or unreachable");
            }
        }
        let Some(tunnel) = served.tunnel else {
            return finish(line, served.response);
        };
        let (parts, body) = served.response.into_parts();
        record(&mut line, &parts);
        watch_tunnel(session.clone(), tunnel, line, claim);
        return Response::from_parts(parts, body);
    }

    // The path is normalised before routing (dot segments, unreserved escapes, repeated
    // slashes; escaped slashes only on a route that keeps them), and forwarded normalised.
    let raw_path = req.uri().path();
    let routed = view
        .policy
        .route_http_request(tenant, &line.host, raw_path)
        .map(|routed| {
            let normalized = match routed.path {
                Cow::Borrowed(_) => None,
                Cow::Owned(path) => Some(path),
            };
            (routed.matched.key.clone(), normalized)
        });
    let (route, normalized) = match routed {
        Ok(found) => found,
        Err(refused) => {
            let (kind, message, route) = match &refused {
                HttpRefusal::BadPath(error) => (
                    ProxyErrorKind::BadPath,
                    format!("request path {raw_path:?} refused: {error}"),
                    None,
                ),
                HttpRefusal::NoRoute { miss, path } => {
                    let message = miss.for_http(tenant, &line.host, path).to_string();
                    (ProxyErrorKind::NoRoute, message, None)
                }
                HttpRefusal::EscapedSlash { matched, error, .. } => (
                    ProxyErrorKind::BadPath,
                    format!(
                        "request path {raw_path:?} refused: {error}; route {} does not allow escaped slashes (escaped_slashes \"keep\" would)",
                        matched.key
                    ),
                    Some(matched.key.to_string()),
                ),
                _ => (
                    ProxyErrorKind::BadPath,
                    format!("request path {raw_path:?} refused"),
                    None,
                ),
            };
            match &refused {
                HttpRefusal::NoRoute { path, .. } | HttpRefusal::EscapedSlash { path, .. }
                    if path != raw_path =>
                {
                    line.raw_path = std::mem::replace(&mut line.path, path.to_string());
                }
                _ => {}
            }
            if let Some(error) = refused.path_error() {
                info!(listener = session.listener(), peer = %session.peer, %tenant, path = ?raw_path, reason = error.reason(), "request path refused");
            }
            return finish(line, refusal(kind, &message, route.as_deref()));
        }
    };
    if let Some(path) = normalized {
        if let Err(message) = rewrite_path(&mut req, &path) {
            return finish(line, refusal(ProxyErrorKind::BadPath, &message, None));
        }
        line.raw_path = std::mem::replace(&mut line.path, path);
    }
    line.route = route.to_string();
    let Some((spec, egress)) = view.http_route(tenant, &route) else {
        let response = refusal(
            ProxyErrorKind::UpstreamUnreachable,
            "route is not compiled yet",
            Some(route.as_str()),
        );
        return finish(line, response);
    };
    line.egress_from = egress.origin.as_str();
    line.egress = egress.address.map(|a| a.to_string()).unwrap_or_default();
    let spec = spec.clone();
    let compiler = view.compiler.clone();
    drop(view);
    let target = match compiler.target(tenant, &route, &spec, egress).await {
        Ok(target) => target,
        Err(message) => {
            let response = refusal(
                ProxyErrorKind::UpstreamUnreachable,
                &message,
                Some(route.as_str()),
            );
            return finish(line, response);
        }
    };
    let response = forward(req, &session.forward, &target).await;
    finish(line, response)
}

/// Replaces the request's path with the normalised `path`, keeping the scheme, authority
/// and query as they came, so that the upstream is asked for what was routed.
fn rewrite_path<B>(req: &mut Request<B>, path: &str) -> Result<(), String> {
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query)
            .map_err(|e| format!("normalised path {path:?} is not a valid URI path: {e}"))?,
    );
    *req.uri_mut() = Uri::from_parts(parts)
        .map_err(|e| format!("normalised path {path:?} does not make a valid URI: {e}"))?;
    Ok(())
}

/// Follows a CONNECT tunnel: logs its access line when it ends (bytes and duration of the
/// whole tunnel), and aborts it when the registry stops admitting the session's tenant or
/// certificate. `claim` (its HTTP/2 tenant slot) is held until the tunnel is gone.
fn watch_tunnel(
    session: Arc<Session>,
    mut tunnel: tokio::task::JoinHandle<Result<mtls_splice::SpliceSummary, hyper::Error>>,
    mut line: AccessLine,
    claim: TunnelClaim,
) {
    let closed = session.until_refused();
    tokio::spawn(async move {
        let _claim = claim;
        let listener = session.listener();
        tokio::select! {
            done = &mut tunnel => match done {
                Ok(Ok(summary)) => {
                    let counters = &session.tenancy.compiler.options.counters;
                    counters.client_to_upstream.inc_by(summary.client_to_upstream);
                    counters.upstream_to_client.inc_by(summary.upstream_to_client);
                    line.tunnel_closed(
                        summary.client_to_upstream,
                        summary.upstream_to_client,
                        summary.end.label(),
                    );
                }
                Ok(Err(e)) => {
                    line.tunnel_closed(0, 0, "not_upgraded");
                    info!(listener, peer = %session.peer, tenant = %session.tenant, route = %line.route, error = %ErrorChain(&e), "tunnel never upgraded");
                }
                Err(e) => {
                    line.tunnel_closed(0, 0, "task_failed");
                    warn!(listener, tenant = %session.tenant, route = %line.route, error = %e, "tunnel task failed");
                }
            },
            refusal = closed => {
                warn!(listener, peer = %session.peer, tenant = %session.tenant, route = %line.route, reason = refusal.as_str(), "closing CONNECT tunnel: the registry no longer admits it");
                // The client stream fails now (it is revocable): the splice ends at once and
                // reports what it moved. Abort it if it does not.
                match tokio::time::timeout(Duration::from_secs(1), &mut tunnel).await {
                    Ok(Ok(Ok(summary))) => line.tunnel_closed(
                        summary.client_to_upstream,
                        summary.upstream_to_client,
                        "revoked",
                    ),
                    _ => {
                        tunnel.abort();
                        line.tunnel_closed(0, 0, "revoked");
                    }
                }
            }
        }
        // The access line logs here, as `line` drops.
    });
}

/// A CONNECT tunnel's claim on its tenant's connection cap. Over HTTP/1.1 the tunnel is
/// the connection (already counted); over HTTP/2, where one connection multiplexes many
/// tunnels, every tunnel beyond the first open one on its connection takes a slot of the
/// tenant's `max_connections` (and shows in its active-connections gauge) for its life.
struct TunnelClaim {
    session: Option<Arc<Session>>,
    slot: Option<ConnectionSlot>,
}

// === impl TunnelClaim ===

impl TunnelClaim {
    /// The claim of a new tunnel on `session`, or the refusal message when the tenant is at
    /// its cap (counted as a `max_connections` limit).
    fn take(
        session: &Arc<Session>,
        limiter: &TenantLimiter,
        version: Version,
    ) -> Result<Self, String> {
        if version != Version::HTTP_2 {
            return Ok(Self {
                session: None,
                slot: None,
            });
        }
        let open = session.tunnels.fetch_add(1, Ordering::AcqRel);
        let mut claim = Self {
            session: Some(session.clone()),
            slot: None,
        };
        if open == 0 {
            return Ok(claim);
        }
        let cap = session.tenancy.settings.tenant_max_connections;
        match limiter.connect(cap) {
            Ok(slot) => {
                session.admitted.metrics.active().inc();
                claim.slot = Some(slot);
                Ok(claim)
            }
            Err(count) => {
                limiter.metrics.limited(Limit::MaxConnections);
                Err(format!(
                    "tenant {} already has {count} of at most {} connections open (each HTTP/2 \
                     CONNECT tunnel beyond a connection's first counts as one)",
                    session.tenant,
                    limiter.max_connections(cap)
                ))
            }
        }
    }
}

impl Drop for TunnelClaim {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            session.tunnels.fetch_sub(1, Ordering::AcqRel);
            if self.slot.is_some() {
                session.admitted.metrics.active().dec();
            }
        }
    }
}
