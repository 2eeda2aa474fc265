//! HTTP on a gateway connection: hyper (HTTP/1.1 and h2, upgrades), per-request routing,
//! the tenant's rate limit, CONNECT egress, one access-log line per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use mtls_egress::{EgressPolicy, connect_target};
use mtls_http_proxy::{
    ForwardInfo, ProxyBody, ProxyErrorKind, error_response, forward, serve_connect,
};
use mtls_metrics::{Limit, Outcome, Protocol};
use mtls_splice::SpliceConfig;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::chain::ErrorChain;
use crate::revocable::{Activity, Revocable};
use crate::session::{Live, ServerTls, Session};

/// Serves HTTP requests on `tls` until the client closes or the connection fails.
pub(super) async fn serve(session: Arc<Session>, tls: ServerTls, live: Arc<Live>) {
    let settings = session.tenancy.settings;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
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
    // The stream holds `live` (the tenant's connection slot) for as long as it exists.
    let refused = session.until_refused();
    let activity = Arc::new(Activity::new());
    let io = Revocable::new(
        tls,
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

/// What the access-log line of one request says; logged when the response body is done.
struct AccessLine {
    session: Arc<Session>,
    method: Method,
    host: String,
    path: String,
    route: String,
    upstream: String,
    error: &'static str,
    status: u16,
    bytes_out: u64,
    started: Instant,
}

// === impl AccessLine ===

impl Drop for AccessLine {
    fn drop(&mut self) {
        let session = &self.session;
        info!(
            listener = %session.listener(), peer = %session.peer, tenant = %session.tenant, protocol = "http",
            method = %self.method, host = %self.host, path = %self.path, route = %self.route,
            upstream = %self.upstream, status = self.status, error = self.error,
            bytes_out = self.bytes_out, duration_ms = self.started.elapsed().as_millis() as u64,
            "access"
        );
    }
}

/// Counts the response, and logs the access line once its body has been sent (or dropped).
fn finish(mut line: AccessLine, response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (parts, body) = response.into_parts();
    line.status = parts.status.as_u16();
    if let Some(info) = parts.extensions.get::<ForwardInfo>() {
        if let Some(up) = &info.upstream {
            line.upstream = up.to_string();
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

async fn request(session: Arc<Session>, req: Request<Incoming>) -> Response<ProxyBody> {
    let view = session.tenancy.current();
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let mut line = AccessLine {
        session: session.clone(),
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        host,
        route: String::new(),
        upstream: String::new(),
        error: "",
        status: 0,
        bytes_out: 0,
        started: Instant::now(),
    };
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
                (m.key.clone(), m.allow_private(), m.egress_bind())
            });
        let (route, allow_private, egress_bind) = match found {
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
        drop(view);
        line.route = route.to_string();
        line.upstream = target.to_string();
        let policy = EgressPolicy {
            allow_private,
            egress_bind,
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
        if let Some(e) = &served.error {
            session.tenancy.options.counters.dial_errors.inc();
            line.error = ProxyErrorKind::from(e).as_str();
            warn!(listener = session.listener(), peer = %session.peer, %tenant, %route, destination = %target, error = %ErrorChain(e), "CONNECT refused or unreachable");
        }
        if let Some(tunnel) = served.tunnel {
            watch_tunnel(
                session.clone(),
                tunnel,
                route.to_string(),
                target.to_string(),
            );
        }
        return finish(line, served.response);
    }

    let path_and_query = req.uri().path().to_owned();
    let matched = view
        .policy
        .route_http(tenant, &line.host, &path_and_query)
        .map(|m| m.key.clone());
    let route = match matched {
        Ok(route) => route,
        Err(miss) => {
            let message = miss
                .for_http(tenant, &line.host, &path_and_query)
                .to_string();
            return finish(line, refusal(ProxyErrorKind::NoRoute, &message, None));
        }
    };
    line.route = route.to_string();
    let target = match view.http.get(&route).map(|c| &c.target) {
        Some(Ok(target)) => target.clone(),
        Some(Err(message)) => {
            let response = refusal(
                ProxyErrorKind::UpstreamUnreachable,
                message,
                Some(route.as_str()),
            );
            return finish(line, response);
        }
        None => {
            let response = refusal(
                ProxyErrorKind::UpstreamUnreachable,
                "route is not compiled yet",
                Some(route.as_str()),
            );
            return finish(line, response);
        }
    };
    drop(view);
    let response = forward(req, &session.forward, &target).await;
    finish(line, response)
}

/// Follows a CONNECT tunnel: logs it when it ends, and aborts it when the registry stops
/// admitting the session's tenant or certificate.
fn watch_tunnel(
    session: Arc<Session>,
    mut tunnel: tokio::task::JoinHandle<Result<mtls_splice::SpliceSummary, hyper::Error>>,
    route: String,
    destination: String,
) {
    let closed = session.until_refused();
    let started = Instant::now();
    tokio::spawn(async move {
        let listener = session.listener();
        tokio::select! {
            done = &mut tunnel => match done {
                Ok(Ok(summary)) => {
                    let counters = &session.tenancy.options.counters;
                    counters.client_to_upstream.inc_by(summary.client_to_upstream);
                    counters.upstream_to_client.inc_by(summary.upstream_to_client);
                    info!(
                        listener, peer = %session.peer, tenant = %session.tenant, protocol = "connect",
                        %route, upstream = %destination, bytes_in = summary.client_to_upstream,
                        bytes_out = summary.upstream_to_client, end = summary.end.label(),
                        duration_ms = started.elapsed().as_millis() as u64, "tunnel closed"
                    )
                }
                Ok(Err(e)) => info!(listener, peer = %session.peer, tenant = %session.tenant, %route, error = %ErrorChain(&e), "tunnel never upgraded"),
                Err(e) => warn!(listener, tenant = %session.tenant, %route, error = %e, "tunnel task failed"),
            },
            refusal = closed => {
                tunnel.abort();
                warn!(listener, peer = %session.peer, tenant = %session.tenant, %route, reason = refusal.as_str(), "closing CONNECT tunnel: the registry no longer admits it");
            }
        }
    });
}
