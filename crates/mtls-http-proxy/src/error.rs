//! The proxy's error responses: a status and a small JSON body naming the reason.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};

use mtls_egress::{ConnectTargetError, DialError};

use crate::body::{ProxyBody, full_body};

/// Why the proxy answered a request itself instead of relaying the upstream's response.
///
/// Each kind has a fixed status and a stable snake_case name, used as the `error` field of
/// the JSON body and as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// No route of the client's tenant matches the request: 404 `no_route`.
    NoRoute,
    /// The upstream refused, reset or could not be reached: 502 `upstream_unreachable`.
    UpstreamUnreachable,
    /// The upstream did not answer within the route's timeout: 504 `upstream_timeout`.
    UpstreamTimeout,
    /// The tenant's request rate is exceeded: 429 `rate_limited`.
    RateLimited,
    /// The request body is larger than the route allows: 413 `body_too_large`.
    BodyTooLarge,
    /// The request is not allowed (for example a CONNECT to a private address): 403
    /// `forbidden`.
    Forbidden,
    /// The request is malformed (for example a CONNECT target without a port): 400
    /// `bad_request`.
    BadRequest,
    /// The request path is refused by normalisation (an escaped slash on a route that does
    /// not keep them, a backslash, a bad escape, a control byte): 400 `bad_path`.
    BadPath,
    /// The request names two hosts (two `Host` fields, or a `Host` that differs from the
    /// `:authority` or absolute-form target; see [`request_authority`]): 400
    /// `ambiguous_host`.
    ///
    /// [`request_authority`]: crate::request_authority
    AmbiguousHost,
    /// The destination (a CONNECT target, or an HTTP route's upstream) is, or resolves to,
    /// an address in a non-public range and the route does not set `allow_private`: 403
    /// `destination_forbidden`. The message names the address and the range.
    DestinationForbidden,
}

// === impl ProxyErrorKind ===

impl ProxyErrorKind {
    /// The HTTP status the proxy answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::BadRequest | Self::BadPath | Self::AmbiguousHost => StatusCode::BAD_REQUEST,
            Self::DestinationForbidden => StatusCode::FORBIDDEN,
        }
    }

    /// The stable name: `no_route`, `upstream_unreachable`, `upstream_timeout`,
    /// `rate_limited`, `body_too_large`, `forbidden`, `bad_request`, `bad_path`,
    /// `ambiguous_host` or `destination_forbidden`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::RateLimited => "rate_limited",
            Self::BodyTooLarge => "body_too_large",
            Self::Forbidden => "forbidden",
            Self::BadRequest => "bad_request",
            Self::BadPath => "bad_path",
            Self::AmbiguousHost => "ambiguous_host",
            Self::DestinationForbidden => "destination_forbidden",
        }
    }
}

impl fmt::Display for ProxyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&DialError> for ProxyErrorKind {
    /// How a client is answered when dialing failed: `destination_forbidden` for a
    /// destination the policy refuses ([`DialError::is_forbidden`]), `upstream_timeout` when resolving
    /// or connecting ran out of time ([`DialError::is_timeout`]), `upstream_unreachable`
    /// for the rest.
    fn from(error: &DialError) -> Self {
        if error.is_forbidden() {
            Self::DestinationForbidden
        } else if error.is_timeout() {
            Self::UpstreamTimeout
        } else {
            Self::UpstreamUnreachable
        }
    }
}

impl From<&ConnectTargetError> for ProxyErrorKind {
    /// A request that names no CONNECT destination is malformed: `bad_request`.
    fn from(_: &ConnectTargetError) -> Self {
        Self::BadRequest
    }
}

/// Builds the proxy's error response: `kind`'s status, `content-type: application/json`,
/// `cache-control: no-store` and a body like
/// `{"error":"upstream_unreachable","message":"...","route":"api"}` (`route` is left out
/// when `None`).
///
/// The gateway uses it too, so that every refusal a client sees has one format.
pub fn error_response(
    kind: ProxyErrorKind,
    message: &str,
    route: Option<&str>,
) -> Response<ProxyBody> {
    let mut body = serde_json::Map::new();
    body.insert("error".into(), kind.as_str().into());
    body.insert("message".into(), message.into());
    if let Some(route) = route {
        body.insert("route".into(), route.into());
    }
    let mut text = serde_json::Value::Object(body).to_string();
    text.push('\n');
    let mut response = Response::new(full_body(text));
    *response.status_mut() = kind.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One-line text of an error and its causes, `outer: inner: innermost`, for messages.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // hyper and io errors often repeat their cause in their own message.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dial_errors_map_to_forbidden_timeout_or_unreachable() {
        let host = || "db.example.com".to_owned();
        let addr = "10.0.0.5".parse().unwrap();
        let refused = mtls_route_spec::DestinationPolicy::default()
            .check(addr)
            .unwrap_err();
        let forbidden = DialError::NonPublic {
            host: host(),
            addr,
            range: refused.range,
            why: refused.why,
        };
        assert_eq!(
            ProxyErrorKind::from(&forbidden),
            ProxyErrorKind::DestinationForbidden
        );
        assert_eq!(
            ProxyErrorKind::DestinationForbidden.status(),
            StatusCode::FORBIDDEN
        );
        let timeouts = [
            DialError::ResolveTimeout {
                host: host(),
                timeout: Duration::from_secs(5),
            },
            DialError::ConnectTimeout {
                host: host(),
                port: 443,
                timeout: Duration::from_secs(5),
            },
        ];
        for error in &timeouts {
            assert_eq!(ProxyErrorKind::from(error), ProxyErrorKind::UpstreamTimeout);
        }
        let unreachable = [
            DialError::NoAddress { host: host() },
            DialError::EgressFamily {
                host: host(),
                egress: "::1".parse().unwrap(),
            },
        ];
        for error in &unreachable {
            assert_eq!(
                ProxyErrorKind::from(error),
                ProxyErrorKind::UpstreamUnreachable
            );
        }
    }

    #[test]
    fn bad_connect_targets_are_bad_requests() {
        let request = http::Request::get("/").body(()).unwrap();
        let error = mtls_egress::connect_target(&request).unwrap_err();
        assert_eq!(ProxyErrorKind::from(&error), ProxyErrorKind::BadRequest);
        assert_eq!(ProxyErrorKind::BadRequest.status(), StatusCode::BAD_REQUEST);
    }
}
