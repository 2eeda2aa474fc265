//! HTTP routes: host + path prefix to upstream URLs.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use mtls_request_path::{EscapedSlashes, NormalizedPath};
use serde::{Deserialize, Serialize, Serializer};

use crate::check::{MAX_UPSTREAMS, check_egress_bind, check_list};
use crate::error::{Reason, RouteSpecError};
use crate::header::HeaderSpec;
use crate::host::HostPattern;
use crate::host_port::{check_host_header, check_server_name};
use crate::path::PathPrefix;
use crate::upstream::UpstreamUrl;

/// The most headers one HTTP route may add.
pub const MAX_ADD_HEADERS: usize = 32;

/// The longest `upstream_tls.identity` name, in bytes.
const MAX_IDENTITY_NAME_LEN: usize = 128;

/// An HTTP route: requests whose `Host` matches `host` and whose path falls under
/// `path_prefix` go to `upstreams`, round-robin.
///
/// Fields are public so callers can build routes directly; call
/// [`validate`](HttpRoute::validate) (or [`RouteSpec::validate`](crate::RouteSpec::validate))
/// before storing one. Deserialisation always validates, so a route read back from JSON is
/// valid. In JSON, empty and absent optional fields are omitted, `path_prefix` defaults to
/// `/`, `timeout` is a humantime string such as `"30s"`, `escaped_slashes` defaults to
/// `"refuse"` (and is omitted then), and unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HttpRouteRepr")]
pub struct HttpRoute {
    /// Which `Host` header values this route claims.
    pub host: HostPattern,
    /// Which paths, on segment boundaries.
    pub path_prefix: PathPrefix,
    /// Where requests go: 1 to 32 distinct URLs.
    pub upstreams: Vec<UpstreamUrl>,
    /// The `Host` header sent upstream (`host[:port]`); by default the upstream URL's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite_host: Option<String>,
    /// Headers added to every upstream request; at most 32, names distinct.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_headers: Vec<HeaderSpec>,
    /// Upstream request timeout; must be above zero.
    #[serde(
        serialize_with = "serialize_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Largest request body accepted, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// TLS settings for `https` upstreams; refused when every upstream is `http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_tls: Option<UpstreamTls>,
    /// Source address for upstream connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_bind: Option<IpAddr>,
    /// Request paths holding an escaped slash (`%2F` or `%5C`): refused with 400 (the
    /// default), or kept as they are and not treated as separators. See `mtls-request-path`.
    #[serde(skip_serializing_if = "is_refuse")]
    pub escaped_slashes: EscapedSlashes,
    /// Permit upstreams in non-public ranges ([`non_public`](crate::non_public)): checked on
    /// every resolved address at dial time, and on IP literals when the route is added
    /// ([`RouteSpec::validate_new`](crate::RouteSpec::validate_new)). Absent means `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private: bool,
}

fn is_refuse(escaped_slashes: &EscapedSlashes) -> bool {
    *escaped_slashes == EscapedSlashes::Refuse
}

/// How the proxy originates TLS to `https` upstreams. All fields optional: by default the
/// upstream is verified against the proxy's default roots, with the URL's host as SNI, and
/// no client certificate is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM file of the roots that verify the upstream; an absolute UTF-8 path. Only a path
    /// here: the gateway reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// SNI and verified name, when it differs from the URL's host (DNS name or IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The name of a client identity the proxy holds, presented to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// The JSON shape of an [`HttpRoute`] before cross-field checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpRouteRepr {
    host: HostPattern,
    #[serde(default)]
    path_prefix: PathPrefix,
    upstreams: Vec<UpstreamUrl>,
    #[serde(default)]
    rewrite_host: Option<String>,
    #[serde(default)]
    add_headers: Vec<HeaderSpec>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    max_body_bytes: Option<u64>,
    #[serde(default)]
    upstream_tls: Option<UpstreamTls>,
    #[serde(default)]
    egress_bind: Option<IpAddr>,
    #[serde(default)]
    escaped_slashes: EscapedSlashes,
    #[serde(default)]
    allow_private: bool,
}

fn serialize_timeout<S: Serializer>(
    timeout: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match timeout {
        Some(t) => serializer.collect_str(&humantime::format_duration(*t)),
        None => serializer.serialize_none(),
    }
}

// === impl HttpRoute ===

impl HttpRoute {
    /// A route for `host` under `/` to `upstreams`, with every option unset. Not validated.
    pub fn new(host: HostPattern, upstreams: Vec<UpstreamUrl>) -> Self {
        Self {
            host,
            path_prefix: PathPrefix::root(),
            upstreams,
            rewrite_host: None,
            add_headers: Vec::new(),
            timeout: None,
            max_body_bytes: None,
            upstream_tls: None,
            egress_bind: None,
            escaped_slashes: EscapedSlashes::Refuse,
            allow_private: false,
        }
    }

    /// Cross-field checks: upstream and header counts and duplicates, `rewrite_host`,
    /// `timeout`, `upstream_tls` (only with an `https` upstream), `egress_bind`, and that a
    /// normalised request path can match `path_prefix` (no backslash or escaped control
    /// byte; an escaped slash only with `escaped_slashes` `"keep"`).
    pub fn validate(&self) -> Result<(), RouteSpecError> {
        check_list("upstreams", &self.upstreams, 1, MAX_UPSTREAMS, |u| u)?;
        check_list("add_headers", &self.add_headers, 0, MAX_ADD_HEADERS, |h| {
            h.name()
        })?;
        if let Some(rewrite) = &self.rewrite_host {
            check_host_header(rewrite).map_err(|reason| RouteSpecError::RewriteHost {
                value: rewrite.clone(),
                reason,
            })?;
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(RouteSpecError::ZeroTimeout);
        }
        if let Some(tls) = &self.upstream_tls {
            if !self.upstreams.iter().any(UpstreamUrl::is_https) {
                return Err(RouteSpecError::UpstreamTlsWithoutHttps);
            }
            tls.validate()?;
        }
        check_egress_bind(self.egress_bind)
    }
}

impl HttpRoute {
    /// Add-time check (see [`RouteSpec::validate_new`](crate::RouteSpec::validate_new)): the
    /// path prefix must be one that a normalised request path can match: no backslash, no
    /// escaped control byte, and no escaped slash unless the route keeps them. A stored route
    /// that fails it still loads (it simply matches nothing), so an old registry never stops
    /// loading over it.
    pub fn check_prefix_matchable(&self) -> Result<(), RouteSpecError> {
        let prefix = self.path_prefix.as_str();
        NormalizedPath::parse(prefix)
            .and_then(|path| path.allow(self.escaped_slashes))
            .map(drop)
            .map_err(|problem| RouteSpecError::UnmatchablePathPrefix {
                value: prefix.to_owned(),
                problem,
            })
    }

    /// The check only a route being added gets: without `allow_private`, no upstream may be
    /// an IP address in a non-public range. Not part of [`validate`](Self::validate), so
    /// routes stored before the check existed still load (the dialer refuses them).
    pub fn check_private_upstreams(&self) -> Result<(), RouteSpecError> {
        for upstream in &self.upstreams {
            crate::destination::check_upstream_literal(
                upstream,
                upstream.ip(),
                self.allow_private,
            )?;
        }
        Ok(())
    }
}

impl TryFrom<HttpRouteRepr> for HttpRoute {
    type Error = RouteSpecError;

    fn try_from(repr: HttpRouteRepr) -> Result<Self, Self::Error> {
        let timeout = repr
            .timeout
            .map(|text| {
                humantime::parse_duration(&text).map_err(|source| RouteSpecError::Timeout {
                    value: text,
                    source,
                })
            })
            .transpose()?;
        let route = Self {
            host: repr.host,
            path_prefix: repr.path_prefix,
            upstreams: repr.upstreams,
            rewrite_host: repr.rewrite_host,
            add_headers: repr.add_headers,
            timeout,
            max_body_bytes: repr.max_body_bytes,
            upstream_tls: repr.upstream_tls,
            egress_bind: repr.egress_bind,
            escaped_slashes: repr.escaped_slashes,
            allow_private: repr.allow_private,
        };
        route.validate()?;
        Ok(route)
    }
}

// === impl UpstreamTls ===

impl UpstreamTls {
    /// Checks `ca_file` (absolute, UTF-8), `server_name` (DNS name or IP, no port or
    /// wildcard) and `identity` (1 to 128 of ASCII letters, digits, `.`, `_`, `-`).
    pub fn validate(&self) -> Result<(), RouteSpecError> {
        if let Some(path) = &self.ca_file {
            let reason = if path.as_os_str().is_empty() {
                Some("must not be empty")
            } else if path.to_str().is_none() {
                Some("must be valid UTF-8")
            } else if !path.is_absolute() {
                Some("must be an absolute path (the proxy may run in another directory)")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RouteSpecError::CaFile {
                    path: path.clone(),
                    reason,
                });
            }
        }
        if let Some(name) = &self.server_name {
            check_server_name(name).map_err(|reason| RouteSpecError::ServerName {
                value: name.clone(),
                reason,
            })?;
        }
        if let Some(identity) = &self.identity {
            check_identity_name(identity).map_err(|reason| RouteSpecError::IdentityName {
                value: identity.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

fn check_identity_name(name: &str) -> Result<(), Reason> {
    if name.is_empty() {
        return Err(Reason::Empty);
    }
    if name.len() > MAX_IDENTITY_NAME_LEN {
        return Err(Reason::TooLong {
            len: name.len(),
            max: MAX_IDENTITY_NAME_LEN,
        });
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(found) => Err(Reason::BadChar { found }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
