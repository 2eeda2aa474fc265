//! Request and response header rewriting: pure functions over [`HeaderMap`]s.
//!
//! The order in [`rewrite_request_headers`] matters and is the security argument:
//!
//! 1. **hop-by-hop headers go** ([`strip_hop_by_hop`]): `Connection` and every name it lists,
//!    `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`,
//!    `Trailer`, `Transfer-Encoding` and `Upgrade`; for a real upgrade (HTTP/1.1
//!    `Connection: upgrade` plus `Upgrade`) the `Upgrade` value is kept with
//!    `Connection: upgrade`;
//! 2. **client-supplied identity headers go** ([`strip_client_identity`]):
//!    `x-forwarded-client-cert`, every `x-mtls-*`, `forwarded`, `x-forwarded-host`,
//!    `x-forwarded-proto` and `x-real-ip`, and their look-alikes spelled with `_` for `-`
//!    (`x_mtls_tenant`, `X_Forwarded_Client_Cert`; see [`is_client_identity`]), because
//!    CGI/WSGI-style upstreams map both spellings to the same `HTTP_X_MTLS_TENANT`
//!    variable. So does the look-alike of `x-forwarded-for` and of every header the route
//!    adds. Other names with `_` pass (unlike nginx's `underscores_in_headers off`): they
//!    are legal, some APIs use them, and they cannot shadow what the proxy vouches for. The
//!    tenant's certificate is the only source of identity; nothing a client writes may look
//!    like something the proxy vouches for. Request trailers get the same treatment
//!    ([`sanitize_request_trailers`]);
//! 3. **the proxy's own headers are set**: `x-forwarded-client-cert` (Envoy's format, see
//!    [`ForwardedClientCert`]), `x-mtls-tenant`, `x-forwarded-for` (see [`ForwardedFor`]),
//!    `x-forwarded-proto: https`, `x-forwarded-host` (the `Host` the client asked for), the
//!    route's `Host` rewrite and its added headers.
//!
//! Step 3 runs after steps 1 and 2, so a client cannot remove or shadow what the proxy adds
//! (listing `x-mtls-tenant` in `Connection` only removes the client's own copy).

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::xfcc::ForwardedClientCert;

/// `x-forwarded-client-cert`: the client certificate, in Envoy's format.
pub const X_FORWARDED_CLIENT_CERT: HeaderName = HeaderName::from_static("x-forwarded-client-cert");
/// `x-mtls-tenant`: the tenant id from the client certificate.
pub const X_MTLS_TENANT: HeaderName = HeaderName::from_static("x-mtls-tenant");
/// `x-forwarded-for`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The prefix of the header names the proxy reserves for itself.
pub const X_MTLS_PREFIX: &str = "x-mtls-";

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Hop-by-hop headers (RFC 9110 section 7.6.1, plus the legacy `Keep-Alive` and
/// `Proxy-Connection`).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Identity and forwarding headers a client must not supply (besides `x-mtls-*`).
const CLIENT_IDENTITY: [HeaderName; 5] = [
    X_FORWARDED_CLIENT_CERT,
    header::FORWARDED,
    X_FORWARDED_HOST,
    X_FORWARDED_PROTO,
    X_REAL_IP,
];

/// What to do with a client-supplied `x-forwarded-for`.
///
/// The default is [`Replace`](ForwardedFor::Replace): tenants are not trusted to report
/// addresses, and the proxy is the edge, so upstreams see exactly one address, the one the
/// proxy accepted the connection from. [`Append`](ForwardedFor::Append) is Envoy's
/// behaviour, for deployments behind a trusted load balancer that sets the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedFor {
    /// Drop any client-supplied value; send only the client's address.
    #[default]
    Replace,
    /// Keep the client-supplied value and append `, <client address>`.
    Append,
}

/// Who the request is from, as the proxy vouches for it upstream.
#[derive(Debug, Clone)]
pub struct ClientFacts<'a> {
    /// The tenant id, for `x-mtls-tenant`.
    pub tenant: &'a str,
    /// The client's address, for `x-forwarded-for`.
    pub client_ip: IpAddr,
    /// The client certificate, for `x-forwarded-client-cert`.
    pub client_cert: &'a ForwardedClientCert,
}

/// What one route does to request headers on top of the fixed rules.
#[derive(Debug, Clone, Default)]
pub struct HeaderRewrite {
    /// The `Host` sent upstream; `None` leaves it to the upstream URL's authority.
    pub host: Option<HeaderValue>,
    /// Headers added (replacing any of the same name) after everything else.
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// The `x-forwarded-for` policy.
    pub forwarded_for: ForwardedFor,
}

/// The protocol a request asks to upgrade to (the `Upgrade` value), when it is a real
/// HTTP/1.1 upgrade: an `Upgrade` header and `upgrade` among the `Connection` tokens.
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<&HeaderValue> {
    let upgrade = headers.get(header::UPGRADE)?;
    connection_tokens(headers)
        .any(|token| token.eq_ignore_ascii_case("upgrade"))
        .then_some(upgrade)
}

/// The comma-separated tokens of every `Connection` header.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Removes hop-by-hop headers: the fixed list and every name listed in `Connection`.
///
/// With `keep_upgrade` and a real upgrade request or response (see [`upgrade_protocol`]),
/// the `Upgrade` value survives and `Connection` becomes exactly `upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let upgrade = keep_upgrade
        .then(|| upgrade_protocol(headers).cloned())
        .flatten();
    let listed: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if let Some(upgrade) = upgrade {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether a client-supplied header (or trailer) named `name` must not reach the upstream
/// because it is, or looks like, an identity or forwarding header the proxy vouches for:
/// `x-forwarded-client-cert`, any `x-mtls-*`, `forwarded`, `x-forwarded-host`,
/// `x-forwarded-proto`, `x-real-ip`, or any of them spelled with `_` for `-`
/// (case-insensitive, as every header name is).
///
/// `x-forwarded-for` itself is not on the list (it follows [`ForwardedFor`]), but its
/// underscore look-alike is: no client has a reason to send `x_forwarded_for`, and a
/// CGI-style upstream would read it as the client address.
///
/// ```
/// use mtls_http_proxy::headers::is_client_identity;
/// assert!(is_client_identity("x-mtls-tenant"));
/// assert!(is_client_identity("X_MTLS_Tenant"));
/// assert!(is_client_identity("x-forwarded_client-cert"));
/// assert!(is_client_identity("x_forwarded_for"));
/// assert!(!is_client_identity("x-forwarded-for"));
/// assert!(!is_client_identity("x_api_key"));
/// ```
pub fn is_client_identity(name: &str) -> bool {
    if CLIENT_IDENTITY
        .iter()
        .any(|identity| same_cgi_name(name, identity.as_str()))
    {
        return true;
    }
    if name
        .get(..X_MTLS_PREFIX.len())
        .is_some_and(|prefix| same_cgi_name(prefix, X_MTLS_PREFIX))
    {
        return true;
    }
    name.contains('_') && same_cgi_name(name, X_FORWARDED_FOR.as_str())
}

/// Whether `a` and `b` name the same CGI variable: equal ignoring ASCII case, with `_` and
/// `-` counted as the same character.
fn same_cgi_name(a: &str, b: &str) -> bool {
    let fold = |c: u8| match c {
        b'_' => b'-',
        c => c.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// Removes every identity or forwarding header a client may have supplied, and their
/// underscore look-alikes: every name [`is_client_identity`] matches.
/// (`x-forwarded-for` follows [`ForwardedFor`].)
pub fn strip_client_identity(headers: &mut HeaderMap) {
    remove_names(headers, |name| is_client_identity(name.as_str()));
}

/// Removes every header whose name satisfies `doomed` (all its values).
fn remove_names(headers: &mut HeaderMap, doomed: impl Fn(&HeaderName) -> bool) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| doomed(name))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// Removes the underscore look-alikes of the headers a route adds (`x_env` for a route
/// that adds `x-env`): the route's value replaces the real name, and a CGI-style upstream
/// must not see a second, client-chosen spelling of it.
fn strip_added_look_alikes(headers: &mut HeaderMap, rewrite: &HeaderRewrite) {
    if rewrite.add.is_empty() {
        return;
    }
    remove_names(headers, |name| {
        name.as_str().contains('_')
            && rewrite
                .add
                .iter()
                .any(|(added, _)| added != name && same_cgi_name(name.as_str(), added.as_str()))
    });
}

/// What is done to a request's trailers (HTTP/1.1 chunked trailer section or HTTP/2
/// trailing HEADERS) before they go upstream: the identity headers and look-alikes of
/// [`strip_client_identity`] go, as do the fields RFC 9110 section 6.5.1 forbids in a
/// trailer (hop-by-hop fields, `host`, `content-length`), so a trailer can never add
/// identity the header section could not carry.
pub fn sanitize_request_trailers(trailers: &mut HeaderMap) {
    strip_client_identity(trailers);
    for name in HOP_BY_HOP {
        trailers.remove(name);
    }
    trailers.remove(header::HOST);
    trailers.remove(header::CONTENT_LENGTH);
    remove_names(trailers, |name| {
        same_cgi_name(name.as_str(), "x-forwarded-for")
    });
}

/// Sets `x-forwarded-for` to `client_ip`, or appends it to the existing values.
pub fn set_forwarded_for(headers: &mut HeaderMap, client_ip: IpAddr, policy: ForwardedFor) {
    let ip = client_ip.to_string();
    let value = match policy {
        ForwardedFor::Replace => ip,
        ForwardedFor::Append => {
            let mut joined = String::new();
            for existing in headers.get_all(X_FORWARDED_FOR) {
                // A value that is not visible ASCII cannot be an address list: drop it.
                if let Ok(text) = existing.to_str() {
                    let text = text.trim();
                    if !text.is_empty() {
                        joined.push_str(text);
                        joined.push_str(", ");
                    }
                }
            }
            joined.push_str(&ip);
            joined
        }
    };
    // An IP address and visible-ASCII values joined by ", " are always a valid value.
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// Everything done to a request's headers before it goes upstream, in the order described
/// in the [module docs](self). `original_host` is the `Host` (or `:authority`) the client
/// asked for; it becomes `x-forwarded-host`. `keep_upgrade` is true when the request is
/// forwarded as an upgrade.
pub fn rewrite_request_headers(
    headers: &mut HeaderMap,
    client: &ClientFacts<'_>,
    rewrite: &HeaderRewrite,
    original_host: Option<&HeaderValue>,
    keep_upgrade: bool,
) {
    let original_host = original_host.cloned();
    strip_hop_by_hop(headers, keep_upgrade);
    strip_client_identity(headers);
    strip_added_look_alikes(headers, rewrite);
    headers.remove(header::HOST);

    headers.insert(
        X_FORWARDED_CLIENT_CERT,
        client.client_cert.header_value().clone(),
    );
    // Tenant ids are validated DNS labels; the fallback never happens in practice.
    if let Ok(tenant) = HeaderValue::from_str(client.tenant) {
        headers.insert(X_MTLS_TENANT, tenant);
    }
    set_forwarded_for(headers, client.client_ip, rewrite.forwarded_for);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    if let Some(host) = original_host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    if let Some(host) = &rewrite.host {
        headers.insert(header::HOST, host.clone());
    }
    for (name, value) in &rewrite.add {
        headers.insert(name.clone(), value.clone());
    }
}

/// Everything done to an upstream response's headers before it goes back to the client:
/// hop-by-hop headers are removed (kept for a `101 Switching Protocols` to an upgrade).
pub fn rewrite_response_headers(headers: &mut HeaderMap, keep_upgrade: bool) {
    strip_hop_by_hop(headers, keep_upgrade);
}

#[cfg(test)]
mod tests;
