//! One authority per request: the host a request is routed on, checked against every other
//! place the client could have named a host.
//!
//! A request can name its host in the target URI (HTTP/2 `:authority`, HTTP/1.1
//! absolute-form `GET https://a/ HTTP/1.1`, CONNECT's authority-form) and in `Host` header
//! fields. If those disagree, a router that reads one and an upstream (or
//! `x-forwarded-host`) that reads the other see different hosts: a request routed as
//! tenant-visible `a` could be served as `b`. So [`request_authority`] refuses
//! (the gateway answers 400 with [`ProxyErrorKind::AmbiguousHost`] or
//! [`ProxyErrorKind::BadRequest`]):
//!
//! - more than one `Host` field (RFC 9112 section 3.2: a server MUST answer 400);
//! - a `Host` that is empty, not a `host[:port]`, or carries userinfo (`a@b`);
//! - a `Host` that names another authority than the target URI. Hosts compare ASCII
//!   case-insensitively and ignoring one trailing dot; ports compare after filling in the
//!   scheme's default (443 for `https`, 80 for `http`), so `Host: a:443` agrees with
//!   `:authority: A` on an `https` request, and `Host: a:8443` does not;
//! - an HTTP/1.1 request with no host at all (RFC 9112 section 3.2 again).
//!
//! The authority returned is the target URI's when there is one (RFC 9112 section 3.2.2
//! and RFC 9113 section 8.3.1 make it win over `Host`), else the `Host` field, exactly as
//! the client wrote it. Routing and `x-forwarded-host` both use that one value.

use http::uri::{Authority, Scheme};
use http::{HeaderMap, Request, Uri, Version, header};

use crate::error::ProxyErrorKind;

/// Why a request's authority is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// More than one `Host` field.
    #[error("request has {count} Host header fields; exactly one is allowed")]
    MultipleHost {
        /// How many there were.
        count: usize,
    },
    /// The `Host` field is empty or not a `host[:port]`.
    #[error("Host header {value:?} is not a valid host[:port]")]
    InvalidHost {
        /// The value, lossily decoded.
        value: String,
    },
    /// The `Host` field names another authority than the request target.
    #[error("Host header {host:?} does not match the request target's authority {target:?}")]
    HostMismatch {
        /// The `Host` value.
        host: String,
        /// The target URI's authority (`:authority` or absolute-form).
        target: String,
    },
    /// An HTTP/1.1 request with neither a `Host` field nor an absolute-form target.
    #[error("HTTP/1.1 request has no Host header")]
    MissingHost,
}

impl From<&AuthorityError> for ProxyErrorKind {
    /// Two hosts (`MultipleHost`, `HostMismatch`) are `ambiguous_host`; a malformed or
    /// missing one is `bad_request`. Both answer 400.
    fn from(error: &AuthorityError) -> Self {
        match error {
            AuthorityError::MultipleHost { .. } | AuthorityError::HostMismatch { .. } => {
                Self::AmbiguousHost
            }
            AuthorityError::InvalidHost { .. } | AuthorityError::MissingHost => Self::BadRequest,
        }
    }
}

/// The one authority `request` is for, or `None` for a request that names none where that
/// is allowed (HTTP/1.0, or HTTP/2 without `:authority` and `Host`).
///
/// A request can name its host in the target URI (HTTP/2 `:authority`, HTTP/1.1
/// absolute-form, CONNECT's authority-form) and in `Host`; a router reading one and an
/// upstream (or `x-forwarded-host`) reading the other must never see different hosts. So
/// this refuses ([`AuthorityError`]): more than one `Host` field (RFC 9112 section 3.2); a
/// `Host` that is empty, not `host[:port]`, or carries userinfo; a `Host` naming another
/// authority than the target URI; an HTTP/1.1 request with no host at all. Hosts compare
/// ASCII case-insensitively ignoring one trailing dot, and ports after filling in the
/// scheme's default (443 for `https`, 80 for `http`): `Host: a:443` agrees with
/// `:authority: A` on `https`, `Host: a:8443` does not.
///
/// The authority returned is the target URI's when there is one (RFC 9112 section 3.2.2,
/// RFC 9113 section 8.3.1), else the `Host` field, as the client wrote it.
///
/// ```
/// use mtls_http_proxy::{AuthorityError, request_authority};
///
/// let ok = http::Request::get("https://api.acme.test/v1").header("host", "API.acme.test:443").body(())?;
/// assert_eq!(request_authority(&ok)?.unwrap().as_str(), "api.acme.test");
///
/// let two = http::Request::get("/").header("host", "a").header("host", "b").body(())?;
/// assert!(matches!(request_authority(&two), Err(AuthorityError::MultipleHost { count: 2 })));
///
/// let other = http::Request::get("https://a.test/").header("host", "b.test").body(())?;
/// assert!(matches!(request_authority(&other), Err(AuthorityError::HostMismatch { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn request_authority<B>(request: &Request<B>) -> Result<Option<Authority>, AuthorityError> {
    authority_of(request.version(), request.uri(), request.headers())
}

/// [`request_authority`] on a request's parts.
pub fn authority_of(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Authority>, AuthorityError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    let count = 1 + hosts.count();
    if host.is_some() && count > 1 {
        return Err(AuthorityError::MultipleHost { count });
    }
    let host = host
        .map(|value| {
            let invalid = || AuthorityError::InvalidHost {
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            };
            let authority = Authority::try_from(value.as_bytes()).map_err(|_| invalid())?;
            if authority.as_str().is_empty()
                || authority.host().is_empty()
                || authority.as_str().contains('@')
            {
                return Err(invalid());
            }
            Ok(authority)
        })
        .transpose()?;
    match (uri.authority(), host) {
        (Some(target), Some(host)) => {
            if same_authority(target, &host, uri.scheme()) {
                Ok(Some(target.clone()))
            } else {
                Err(AuthorityError::HostMismatch {
                    host: host.as_str().to_owned(),
                    target: target.as_str().to_owned(),
                })
            }
        }
        (Some(target), None) => Ok(Some(target.clone())),
        (None, Some(host)) => Ok(Some(host)),
        (None, None) if version == Version::HTTP_11 => Err(AuthorityError::MissingHost),
        (None, None) => Ok(None),
    }
}

/// Whether two authorities name the same host and port under `scheme`.
fn same_authority(a: &Authority, b: &Authority, scheme: Option<&Scheme>) -> bool {
    let default = match scheme.map(Scheme::as_str) {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    let host = |a: &Authority| {
        let host = a.host();
        host.strip_suffix('.').unwrap_or(host).to_owned()
    };
    host(a).eq_ignore_ascii_case(&host(b)) && a.port_u16().or(default) == b.port_u16().or(default)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn req(version: Version, uri: &str, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::get(uri).version(version);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(()).unwrap()
    }

    fn ok(version: Version, uri: &str, hosts: &[&str]) -> Option<String> {
        request_authority(&req(version, uri, hosts))
            .unwrap()
            .map(|a| a.as_str().to_owned())
    }

    fn err(version: Version, uri: &str, hosts: &[&str]) -> AuthorityError {
        request_authority(&req(version, uri, hosts)).unwrap_err()
    }

    #[test]
    fn one_host_wins_and_agreeing_hosts_pass() {
        let h1 = Version::HTTP_11;
        let h2 = Version::HTTP_2;
        assert_eq!(ok(h1, "/", &["a.test"]).as_deref(), Some("a.test"));
        assert_eq!(
            ok(h1, "/", &["a.test:8443"]).as_deref(),
            Some("a.test:8443")
        );
        assert_eq!(ok(h2, "https://a.test/x", &[]).as_deref(), Some("a.test"));
        // The target's spelling is kept; Host may differ in case, trailing dot, default port.
        for host in ["a.test", "A.TEST", "a.test.", "a.test:443"] {
            assert_eq!(
                ok(h2, "https://a.test/x", &[host]).as_deref(),
                Some("a.test"),
                "{host}"
            );
        }
        assert_eq!(
            ok(h1, "https://a.test:443/", &["a.test"]).as_deref(),
            Some("a.test:443")
        );
        assert_eq!(
            ok(h1, "http://a.test/", &["a.test:80"]).as_deref(),
            Some("a.test")
        );
        assert_eq!(
            ok(h1, "[::1]:8443", &["[::1]:8443"]).as_deref(),
            Some("[::1]:8443")
        );
        assert_eq!(ok(Version::HTTP_10, "/", &[]), None);
        assert_eq!(ok(h2, "/", &[]), None);
    }

    #[test]
    fn two_hosts_are_refused() {
        let h1 = Version::HTTP_11;
        assert_eq!(
            err(h1, "/", &["a.test", "b.test"]),
            AuthorityError::MultipleHost { count: 2 }
        );
        assert_eq!(
            err(h1, "/", &["a.test", "a.test"]),
            AuthorityError::MultipleHost { count: 2 }
        );
        for (uri, host) in [
            ("https://a.test/", "b.test"),
            ("https://a.test/", "a.test:8443"),
            ("https://a.test:8443/", "a.test"),
            ("https://a.test/", "a.test:80"),
            ("http://a.test/", "a.test:443"),
            ("a.test:443", "a.test"),
        ] {
            let e = err(Version::HTTP_2, uri, &[host]);
            assert!(
                matches!(e, AuthorityError::HostMismatch { .. }),
                "{uri} {host}: {e}"
            );
            assert_eq!(ProxyErrorKind::from(&e), ProxyErrorKind::AmbiguousHost);
        }
    }

    #[test]
    fn bad_or_missing_hosts_are_refused() {
        let h1 = Version::HTTP_11;
        for host in ["", "user@a.test", "a.test/x", "a b", ":443"] {
            let e = err(h1, "/", &[host]);
            assert!(
                matches!(e, AuthorityError::InvalidHost { .. }),
                "{host:?}: {e}"
            );
            assert_eq!(ProxyErrorKind::from(&e), ProxyErrorKind::BadRequest);
        }
        assert_eq!(err(h1, "/", &[]), AuthorityError::MissingHost);
    }

    proptest! {
        #[test]
        fn agreeing_spellings_never_refused(
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
            upper in any::<bool>(),
            dot in any::<bool>(),
            explicit in any::<bool>(),
        ) {
            let mut spelled = if upper { host.to_ascii_uppercase() } else { host.clone() };
            if dot { spelled.push('.'); }
            if explicit { spelled.push_str(":443"); }
            let uri = format!("https://{host}/p");
            prop_assert_eq!(ok(Version::HTTP_2, &uri, &[&spelled]), Some(host));
        }

        #[test]
        fn different_hosts_always_refused(a in "[a-z]{1,8}\\.test", b in "[a-z]{1,8}\\.test") {
            prop_assume!(a != b);
            let uri = format!("https://{a}/");
            let refused = request_authority(&req(Version::HTTP_11, &uri, &[&b]));
            let mismatch = matches!(refused, Err(AuthorityError::HostMismatch { .. }));
            prop_assert!(mismatch, "{:?}", refused);
        }
    }
}
