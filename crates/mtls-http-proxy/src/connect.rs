//! [`serve_connect`]: answer an HTTP CONNECT request on a hyper server and splice the
//! tunnel.
//!
//! The destination is dialed first with [`mtls_egress::dial`] (so a refusal is a proper
//! 403/502/504 JSON response), then the client gets `200`, and the upgraded connection is
//! handed to [`mtls_splice::splice`] together with the destination.

use std::net::IpAddr;

use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mtls_egress::{DialError, EgressPolicy, dial};
use mtls_route_spec::HostPort;
use mtls_splice::{SpliceConfig, SpliceSummary, splice};
use tokio::task::JoinHandle;

use crate::body::{ProxyBody, empty_body};
use crate::error::{ProxyErrorKind, error_response};

/// The result of [`serve_connect`]: the response for hyper, and the tunnel task when the
/// destination was reached.
#[derive(Debug)]
pub struct ConnectResponse {
    /// `200` with an empty body, or the JSON error response.
    pub response: Response<ProxyBody>,
    /// The tunnel: it waits for hyper's upgrade, then splices. Its output is the splice
    /// summary, or hyper's error when the client never upgraded.
    pub tunnel: Option<JoinHandle<Result<SpliceSummary, hyper::Error>>>,
    /// Why the destination was refused or unreachable, when it was.
    pub error: Option<DialError>,
    /// The source address of the connection to the destination, when it was reached (the
    /// bound egress address, or the one the operating system chose).
    pub source: Option<IpAddr>,
}

/// Serves a CONNECT request whose destination the caller has already matched against the
/// tenant's routes: dials `target` under `policy`, and on success answers `200` and splices
/// the upgraded client connection to the destination with `config`.
///
/// `route` names the route in error responses. Failures are answered with
/// [`error_response`] (`forbidden` 403, `upstream_unreachable` 502, `upstream_timeout` 504;
/// see [`ProxyErrorKind`]'s `From<&DialError>`).
pub async fn serve_connect<B>(
    request: Request<B>,
    target: &HostPort,
    policy: &EgressPolicy,
    route: Option<&str>,
    config: SpliceConfig,
) -> ConnectResponse
where
    B: Send + 'static,
{
    let stream = match dial(target.host(), target.port(), policy).await {
        Ok(stream) => stream,
        Err(error) => {
            return ConnectResponse {
                response: error_response(ProxyErrorKind::from(&error), &error.to_string(), route),
                tunnel: None,
                error: Some(error),
                source: None,
            };
        }
    };
    let source = stream.local_addr().ok().map(|a| a.ip());
    let on_upgrade = hyper::upgrade::on(request);
    let tunnel = tokio::spawn(async move {
        let upgraded = on_upgrade.await?;
        Ok(splice(TokioIo::new(upgraded), stream, config).await)
    });
    let mut response = Response::new(empty_body());
    *response.status_mut() = StatusCode::OK;
    ConnectResponse {
        response,
        tunnel: Some(tunnel),
        error: None,
        source,
    }
}
