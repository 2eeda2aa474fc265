//! Upstream URLs of HTTP routes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Reason, RouteSpecError};
use crate::host::{Host, parse_port, split_host_port};
use crate::path::PathPrefix;

/// The scheme of an [`UpstreamUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

// === impl Scheme ===

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an HTTP route sends requests: `http://host[:port][/base]` or `https://...`.
///
/// The host is a DNS name, IPv4 address or IPv6 address in brackets; no user info, query or
/// fragment; the optional base path follows the [`PathPrefix`] rules. The canonical form
/// lowercases scheme and host and drops a default port (`http://a:80` is `http://a`), so
/// equal URLs compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct UpstreamUrl {
    scheme: Scheme,
    host: Host,
    /// `None` when it is the scheme's default.
    port: Option<u16>,
    base: PathPrefix,
}

// === impl UpstreamUrl ===

impl UpstreamUrl {
    fn parse(text: &str) -> Result<Self, Reason> {
        if text.is_empty() {
            return Err(Reason::Empty);
        }
        let (scheme, rest) = split_scheme(text).ok_or(Reason::MissingScheme)?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            return Err(Reason::BadScheme);
        };
        if rest.contains(['?', '#']) {
            return Err(Reason::QueryOrFragment);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(Reason::UserInfo);
        }
        if authority.is_empty() {
            return Err(Reason::MissingHost);
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(Reason::MissingHost);
        }
        let host = Host::parse(host)?;
        let port = port
            .map(parse_port)
            .transpose()?
            .filter(|p| *p != scheme.default_port());
        let base = if path.is_empty() {
            PathPrefix::root()
        } else {
            PathPrefix::parse(path)?
        };
        // Whatever we accept, the HTTP stack must accept too. A scheme, a checked host (DNS
        // letters, digits, hyphens and dots, or an IP address) and a port always are: only a
        // base path can hold a character `http::Uri` refuses, so only then is it asked
        // (reading a million stored routes, the check was a fifth of the parse).
        if !path.is_empty() && text.parse::<http::Uri>().is_err() {
            return Err(Reason::NotUri);
        }
        Ok(Self {
            scheme,
            host,
            port,
            base,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// True for `https` upstreams.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }

    /// The DNS name (lowercase) or IP address (without brackets).
    pub fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.ip()
    }

    /// The port to connect to (the scheme's default when none was given).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// The base path requests are forwarded under (`/` when none was given).
    pub fn base_path(&self) -> &PathPrefix {
        &self.base
    }
}

/// `text` split at its first `://`: the scheme and the rest. The first `:` is tried first,
/// a byte search, since a scheme we accept holds none; text with an earlier `:` takes the
/// substring search, for the same answer.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let colon = text.bytes().position(|b| b == b':')?;
    match text[colon..].strip_prefix("://") {
        Some(rest) => Some((&text[..colon], rest)),
        None => text.split_once("://"),
    }
}

impl FromStr for UpstreamUrl {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|reason| RouteSpecError::Upstream {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for UpstreamUrl {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<UpstreamUrl> for String {
    fn from(value: UpstreamUrl) -> Self {
        value.to_string()
    }
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if !self.base.is_root() {
            f.write_str(self.base.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
