//! The plain-HTTP admin endpoints: `/healthz`, `/readyz`, `/certz` and `/metrics`.
//!
//! `/readyz` is 503 while listeners do not accept, a served certificate is outside its
//! validity period, or a gateway listener's registry has been unreadable for longer than its
//! `registry_staleness` (`stale_registries` names the registry, the version still served, for
//! how long and why).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mtls_metrics::Metrics;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use crate::state::ListenerState;

/// What the admin endpoints read.
pub(crate) struct AdminState {
    pub(crate) listeners: Vec<Arc<ListenerState>>,
    pub(crate) metrics: Arc<Metrics>,
    /// True while listeners accept; false before start and during drain.
    pub(crate) accepting: AtomicBool,
}

/// Which endpoints one admin socket serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Routes {
    pub(crate) health: bool,
    pub(crate) metrics: bool,
}

pub(crate) async fn serve(
    listener: TcpListener,
    routes: Routes,
    state: Arc<AdminState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(ok) => ok,
                Err(e) => {
                    debug!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = crate::tracker::stopped(&mut shutdown) => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&req, routes, &state)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service);
            // Bound slow or idle admin clients.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await;
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn json_reply(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", value.to_string())
}

fn respond(req: &Request<Incoming>, routes: Routes, state: &AdminState) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match (req.uri().path(), routes.health, routes.metrics) {
        ("/healthz", true, _) => json_reply(StatusCode::OK, json!({"status": "alive"})),
        ("/readyz", true, _) => readyz(state),
        ("/certz", true, _) => json_reply(StatusCode::OK, certz(state)),
        ("/metrics", _, true) => {
            // Expiry and registry staleness are countdowns: refresh them at scrape time.
            let now = std::time::Instant::now();
            for l in &state.listeners {
                l.update_expiry();
                if let Some(tenancy) = &l.tenancy {
                    tenancy.record_staleness(now);
                }
            }
            reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                {
                    let metrics = &state.metrics;
                    metrics.sync_log_lines_dropped(crate::logging::dropped_log_lines());
                    metrics.encode()
                },
            )
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn readyz(state: &AdminState) -> Response<Full<Bytes>> {
    let now = OffsetDateTime::now_utc();
    let instant = std::time::Instant::now();
    let mut problems = Vec::new();
    let mut stale = Vec::new();
    if !state.accepting.load(Ordering::SeqCst) {
        problems.push("listeners are not accepting (starting or draining)".to_owned());
    }
    for l in &state.listeners {
        for (side, info) in l.cert_infos() {
            if !info.is_valid_at(now) {
                let what = match &info.identity {
                    Some(identity) => format!("client identity {identity:?}"),
                    None => format!("{} certificate", side.as_str()),
                };
                problems.push(format!(
                    "listener {:?}: {what} {} is outside its validity period",
                    l.name(),
                    info.path.display()
                ));
            }
        }
        if let Some(s) = l.tenancy.as_ref().and_then(|t| t.stale_registry(instant)) {
            problems.push(format!(
                "listener {:?}: registry {} unreadable for {}s (longer than its \
                 registry_staleness); still serving snapshot version {}; last error: {}",
                l.name(),
                s.registry.display(),
                s.failing_for.as_secs(),
                s.version,
                s.error
            ));
            stale.push(json!({
                "listener": l.name(),
                "registry": s.registry.display().to_string(),
                "serving_version": s.version,
                "failing_for_seconds": s.failing_for.as_secs(),
                "error": s.error,
            }));
        }
    }
    if problems.is_empty() {
        json_reply(StatusCode::OK, json!({"status": "ready"}))
    } else {
        json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not_ready", "problems": problems, "stale_registries": stale}),
        )
    }
}

fn certz(state: &AdminState) -> serde_json::Value {
    let now = OffsetDateTime::now_utc();
    let certs: Vec<_> = state
        .listeners
        .iter()
        .flat_map(|l| {
            l.cert_infos().into_iter().map(move |(side, info)| {
                json!({
                    "listener": l.name(),
                    "side": side.as_str(),
                    "identity": info.identity,
                    "path": info.path.display().to_string(),
                    "subject": info.subject,
                    "serial": info.serial,
                    "not_after": info.not_after.format(&Rfc3339).unwrap_or_default(),
                    "days_left": info.seconds_left(now).div_euclid(86_400),
                })
            })
        })
        .collect();
    json!({ "certificates": certs })
}
