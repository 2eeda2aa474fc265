//! [`forward`]: one request to one route's upstreams and back, bodies streamed.

use std::future::pending;
use std::net::IpAddr;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpInfo;
use hyper_util::rt::TokioIo;
use mtls_route_spec::UpstreamUrl;
use tokio::sync::oneshot;

use mtls_splice::{SpliceConfig, splice};

use crate::authority::authority_of;
use crate::body::{BoxError, LimitedBody, ProxyBody, empty_body, sanitized_trailers};
use crate::error::{ProxyErrorKind, error_chain, error_response};
use crate::framing::{close_after, framing_of};
use crate::headers::{
    ClientFacts, rewrite_request_headers, rewrite_response_headers, upgrade_protocol,
};
use crate::target::{ForwardContext, RouteTarget};
use crate::upstream::connector::{refused_destination, unbindable_egress};

/// What happened to a forwarded request, attached to the response's extensions for access
/// logs (`response.extensions().get::<ForwardInfo>()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardInfo {
    /// The upstream the request was last sent to, if one was picked.
    pub upstream: Option<UpstreamUrl>,
    /// Set when the proxy answered itself.
    pub error: Option<ProxyErrorKind>,
    /// Whether the connection was upgraded (a WebSocket, for example).
    pub upgraded: bool,
    /// The source address of the upstream connection that answered: the route's bound
    /// egress address, or the one the operating system chose. `None` when no upstream
    /// answered.
    pub source: Option<IpAddr>,
}

/// Forwards `request` to one of `target`'s upstreams and returns the response to send back.
///
/// - The upstream URI is the upstream's scheme and authority, its base path joined with the
///   request's path, and the request's query.
/// - A request naming two hosts (see [`request_authority`](crate::request_authority)) is
///   refused with 400; the one it names becomes `x-forwarded-host`.
/// - A request framed ambiguously ([`check_request_framing`](crate::check_request_framing):
///   both `Content-Length` and `Transfer-Encoding`, or chunked more than once) is refused
///   with 400 and `Connection: close`.
/// - Headers are rewritten as the [`headers`](crate::headers) module describes; request
///   trailers lose identity headers ([`sanitize_request_trailers`](crate::headers::sanitize_request_trailers)).
/// - Bodies stream both ways; nothing is buffered beyond a frame.
/// - A request whose `Content-Length` exceeds the route's body limit is refused up front
///   with 413; one that grows past it while streaming is cut off, and the client gets 413
///   unless the upstream already answered.
/// - No response head within the route's timeout: 504. Connection refused, reset, TLS
///   failure: 502; an upstream that could not be connected to is skipped for the cooldown,
///   and a request without a body is retried once on the next upstream. An egress source
///   address that cannot be bound (the host no longer holds it) is a 502 naming the
///   address, with no retry and no fallback to another source.
/// - An HTTP/1.1 upgrade (`Connection: upgrade`) is forwarded over an HTTP/1.1 connection;
///   on `101 Switching Protocols` both upgraded connections are joined with [`splice`].
///
/// Every failure is a JSON response from [`error_response`]; the function never fails.
pub async fn forward<B>(
    mut request: Request<B>,
    ctx: &ForwardContext,
    target: &RouteTarget,
) -> Response<ProxyBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let route = target.name();
    let client_version = request.version();
    let refuse = |kind: ProxyErrorKind, message: &str, upstream: Option<&UpstreamUrl>| {
        let mut response = error_response(kind, message, Some(route));
        response.extensions_mut().insert(ForwardInfo {
            upstream: upstream.cloned(),
            error: Some(kind),
            upgraded: false,
            source: None,
        });
        response
    };

    // Body limit, up front.
    if let Some(limit) = target.max_body_bytes {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| request.body().size_hint().exact());
        if let Some(declared) = declared.filter(|len| *len > limit) {
            return refuse(
                ProxyErrorKind::BodyTooLarge,
                &format!(
                    "request body of {declared} bytes exceeds the route's limit of {limit} bytes"
                ),
                None,
            );
        }
    }

    let is_upgrade =
        client_version <= Version::HTTP_11 && upgrade_protocol(request.headers()).is_some();
    let client_upgrade = is_upgrade.then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    // The one authority the request is for (the gateway routed on the same value).
    let original_host = match authority_of(parts.version, &parts.uri, &parts.headers) {
        Ok(authority) => authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
        Err(error) => return refuse(ProxyErrorKind::from(&error), &error.to_string(), None),
    };
    if let Err(error) = framing_of(parts.version, &parts.headers) {
        let response = refuse(ProxyErrorKind::from(&error), &error.to_string(), None);
        return close_after(response);
    }
    let mut headers = parts.headers;
    let mut method = parts.method;
    let facts = ClientFacts {
        tenant: ctx.tenant.as_str(),
        client_ip: ctx.client_ip,
        client_cert: &ctx.client_cert,
    };
    rewrite_request_headers(
        &mut headers,
        &facts,
        &target.rewrite,
        original_host.as_ref(),
        is_upgrade,
    );

    let bodyless = body.is_end_stream();
    let body = sanitized_trailers(body);
    let (tripped_tx, tripped_rx) = oneshot::channel();
    let mut body: Option<ProxyBody> = Some(match target.max_body_bytes {
        Some(limit) => LimitedBody::new(body, limit, tripped_tx).boxed_unsync(),
        None => body.map_err(Into::into).boxed_unsync(),
    });
    let tripped = async move {
        if tripped_rx.await.is_err() {
            // The body finished or was dropped without tripping: never fire.
            pending::<()>().await;
        }
    };
    let mut tripped = std::pin::pin!(tripped);

    // A bodyless request may be retried once on another upstream after a connect failure.
    let attempts = if bodyless {
        target.pool.len().min(2)
    } else {
        1
    };
    let path = parts
        .uri
        .path_and_query()
        .map(PathAndQuery::as_str)
        .unwrap_or("/");
    let mut last_upstream = None;
    for attempt in 0..attempts {
        let index = target.pool.pick();
        let upstream = target.pool.url(index);
        last_upstream = Some(upstream);
        let uri = match upstream_uri(upstream, path) {
            Ok(uri) => uri,
            Err(message) => return refuse(ProxyErrorKind::BadRequest, &message, Some(upstream)),
        };
        let mut upstream_request = Request::new(body.take().unwrap_or_else(empty_body));
        *upstream_request.uri_mut() = uri;
        *upstream_request.version_mut() = Version::HTTP_11;
        // The last attempt takes the rewritten head; only one a retry may follow copies it.
        if attempt + 1 < attempts {
            *upstream_request.method_mut() = method.clone();
            *upstream_request.headers_mut() = headers.clone();
        } else {
            *upstream_request.method_mut() = std::mem::take(&mut method);
            *upstream_request.headers_mut() = std::mem::take(&mut headers);
        }

        let send = target.client.send(upstream_request, is_upgrade);
        let outcome = tokio::select! {
            biased;
            () = &mut tripped => {
                let limit = target.max_body_bytes.unwrap_or_default();
                return refuse(
                    ProxyErrorKind::BodyTooLarge,
                    &format!("request body exceeds the route's limit of {limit} bytes"),
                    Some(upstream),
                );
            }
            outcome = tokio::time::timeout(target.timeout, send) => outcome,
        };
        let response = match outcome {
            Err(_elapsed) => {
                return refuse(
                    ProxyErrorKind::UpstreamTimeout,
                    &format!(
                        "upstream {upstream} did not answer within {:?}",
                        target.timeout
                    ),
                    Some(upstream),
                );
            }
            Ok(Err(error)) => {
                // The route's source address cannot be bound: no upstream is at fault, and
                // no other upstream (nor another source) is tried.
                if let Some(egress) = unbindable_egress(&error) {
                    return refuse(
                        ProxyErrorKind::UpstreamUnreachable,
                        &format!(
                            "upstream {upstream} not dialed: the route's egress source address {egress} cannot be bound ({})",
                            error_chain(&error)
                        ),
                        Some(upstream),
                    );
                }
                if error.is_connect() {
                    target.pool.mark_failed(index);
                    if attempt + 1 < attempts {
                        tracing::debug!(route, %upstream, error = %error_chain(&error), "retrying on the next upstream");
                        continue;
                    }
                }
                if is_ready(tripped.as_mut()) {
                    let limit = target.max_body_bytes.unwrap_or_default();
                    return refuse(
                        ProxyErrorKind::BodyTooLarge,
                        &format!("request body exceeds the route's limit of {limit} bytes"),
                        Some(upstream),
                    );
                }
                // A non-public upstream address the route does not allow: 403, not 502.
                let kind = match refused_destination(&error) {
                    Some(_) => ProxyErrorKind::DestinationForbidden,
                    None => ProxyErrorKind::UpstreamUnreachable,
                };
                return refuse(
                    kind,
                    &format!("upstream {upstream}: {}", error_chain(&error)),
                    Some(upstream),
                );
            }
            Ok(Ok(response)) => response,
        };
        target.pool.mark_ok(index);
        if response.status() == StatusCode::SWITCHING_PROTOCOLS && client_upgrade.is_none() {
            // A 101 nobody asked for cannot be relayed: the client would be left hanging.
            return refuse(
                ProxyErrorKind::UpstreamUnreachable,
                &format!("upstream {upstream} switched protocols without an upgrade request"),
                Some(upstream),
            );
        }
        return relay(response, client_upgrade, client_version, target, upstream);
    }
    // Only reachable with zero attempts, which a non-empty pool never has.
    refuse(
        ProxyErrorKind::UpstreamUnreachable,
        "no upstream could be tried",
        last_upstream,
    )
}

/// Turns the upstream's response into the client's, joining upgraded connections.
fn relay(
    mut response: Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    client_version: Version,
    target: &RouteTarget,
    upstream: &UpstreamUrl,
) -> Response<ProxyBody> {
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let upgraded = switching && client_upgrade.is_some();
    rewrite_response_headers(response.headers_mut(), upgraded);
    let source = response
        .extensions()
        .get::<HttpInfo>()
        .map(|info| info.local_addr().ip());
    let info = ForwardInfo {
        upstream: Some(upstream.clone()),
        error: None,
        upgraded,
        source,
    };
    if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        let config = SpliceConfig::new(target.upgrade_idle_timeout);
        let route = target.name.clone();
        let upstream_text = upstream.to_string();
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let summary =
                        splice(TokioIo::new(client), TokioIo::new(upstream), config).await;
                    tracing::debug!(
                        route = &*route,
                        upstream = upstream_text,
                        sent = summary.client_to_upstream,
                        received = summary.upstream_to_client,
                        end = summary.end.label(),
                        "upgraded connection closed"
                    );
                }
                Err(error) => {
                    tracing::debug!(route = &*route, upstream = upstream_text, error = %error_chain(&error), "upgrade failed");
                }
            }
        });
    }
    let (mut parts, body) = response.into_parts();
    parts.version = client_version;
    parts.extensions.clear();
    parts.extensions.insert(info);
    let body = if upgraded {
        empty_body()
    } else {
        body.map_err(BoxError::from).boxed_unsync()
    };
    Response::from_parts(parts, body)
}

/// The upstream's scheme and authority, its base path joined with the request's path, and
/// the request's query.
fn upstream_uri(upstream: &UpstreamUrl, path_and_query: &str) -> Result<Uri, String> {
    let scheme = match upstream.scheme() {
        mtls_route_spec::Scheme::Https => Scheme::HTTPS,
        _ => Scheme::HTTP,
    };
    let host = upstream.host();
    let authority = if host.contains(':') {
        format!("[{host}]:{}", upstream.port())
    } else {
        format!("{host}:{}", upstream.port())
    };
    let authority = Authority::try_from(authority)
        .map_err(|e| format!("upstream {upstream} has no usable authority: {e}"))?;
    let base = upstream.base_path().as_str().trim_end_matches('/');
    let path_and_query = if path_and_query.starts_with('/') {
        format!("{base}{path_and_query}")
    } else {
        // `*` (OPTIONS) or an absolute-form leftover: keep the base path only.
        format!("{base}/")
    };
    let path_and_query = PathAndQuery::try_from(path_and_query)
        .map_err(|e| format!("request path cannot be forwarded: {e}"))?;
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| format!("upstream URI for {upstream} is invalid: {e}"))
}

/// Polls a pinned future once, without waiting; true if it completed. The caller must not
/// poll it again after a `true`.
fn is_ready<F: std::future::Future<Output = ()>>(future: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut cx).is_ready()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uri_joins_base_and_path() {
        let up: UpstreamUrl = "https://api.internal:8443/base".parse().unwrap();
        assert_eq!(
            upstream_uri(&up, "/v1/x?y=1").unwrap().to_string(),
            "https://api.internal:8443/base/v1/x?y=1"
        );
        let up: UpstreamUrl = "http://10.0.0.1".parse().unwrap();
        assert_eq!(
            upstream_uri(&up, "/").unwrap().to_string(),
            "http://10.0.0.1:80/"
        );
        let up: UpstreamUrl = "http://[::1]:8080/".parse().unwrap();
        assert_eq!(
            upstream_uri(&up, "/a").unwrap().to_string(),
            "http://[::1]:8080/a"
        );
        assert_eq!(
            upstream_uri(&up, "*").unwrap().to_string(),
            "http://[::1]:8080/"
        );
    }
}
