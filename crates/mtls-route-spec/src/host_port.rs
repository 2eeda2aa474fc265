//! Concrete `host:port` addresses, and checks of `Host` header values and TLS server names.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Reason, RouteSpecError};
use crate::host::{Host, parse_port, split_host_port};

/// A concrete `host:port` address: `db.example.com:5432`, `10.0.0.7:22`, `[::1]:8080`.
/// The host is a DNS name (no wildcard), IPv4, or IPv6 in brackets; the port is 1..=65535.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct HostPort {
    host: Host,
    port: u16,
}

// === impl HostPort ===

impl HostPort {
    fn parse(text: &str) -> Result<Self, Reason> {
        if text.is_empty() {
            return Err(Reason::Empty);
        }
        let (host, port) = split_host_port(text)?;
        let port = parse_port(port.ok_or(Reason::MissingPort)?)?;
        Ok(Self {
            host: Host::parse(host)?,
            port,
        })
    }

    /// The DNS name (lowercase) or IP address (without brackets).
    pub fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.ip()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl FromStr for HostPort {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|reason| RouteSpecError::Address {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for HostPort {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<HostPort> for String {
    fn from(value: HostPort) -> Self {
        value.to_string()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Checks `host[:port]` as sent in a `Host` header; used for `rewrite_host`.
pub(crate) fn check_host_header(text: &str) -> Result<(), Reason> {
    if text.is_empty() {
        return Err(Reason::Empty);
    }
    let (host, port) = split_host_port(text)?;
    if let Some(port) = port {
        parse_port(port)?;
    }
    Host::parse(host).map(drop)
}

/// Checks a TLS server name: a DNS name or IP address, no port, no wildcard.
pub(crate) fn check_server_name(text: &str) -> Result<(), Reason> {
    if text.is_empty() {
        return Err(Reason::Empty);
    }
    // A bare IPv6 address is a fine server name; brackets are accepted too.
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    match split_host_port(text)? {
        (host, None) => Host::parse(host).map(drop),
        (_, Some(_)) => Err(Reason::UnexpectedPort),
    }
}
