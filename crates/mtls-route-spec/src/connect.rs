//! CONNECT allow patterns: `host:port` or `host:first-last`, and the address ranges that
//! CONNECT refuses by default.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Reason, RouteSpecError};
use crate::host::{HostPattern, parse_port, split_host_port};

/// An inclusive port range, written `443` or `8000-8100`. Ports are 1..=65535.
///
/// The fields are public for cheap matching; [`PortRange::new`] and parsing check them, and
/// [`RouteSpec::validate`](crate::RouteSpec::validate) re-checks ranges built by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct PortRange {
    /// The first port, included.
    pub first: u16,
    /// The last port, included.
    pub last: u16,
}

// === impl PortRange ===

impl PortRange {
    /// A checked range.
    pub fn new(first: u16, last: u16) -> Result<Self, RouteSpecError> {
        let range = Self { first, last };
        range.check().map_err(|reason| RouteSpecError::PortRange {
            value: range.to_string(),
            reason,
        })?;
        Ok(range)
    }

    /// A range of one port (which must not be 0).
    pub fn single(port: u16) -> Result<Self, RouteSpecError> {
        Self::new(port, port)
    }

    pub(crate) fn check(&self) -> Result<(), Reason> {
        if self.first == 0 || self.last == 0 {
            return Err(Reason::PortZero);
        }
        if self.first > self.last {
            return Err(Reason::ReversedRange);
        }
        Ok(())
    }

    fn parse(text: &str) -> Result<Self, Reason> {
        if text.is_empty() {
            return Err(Reason::Empty);
        }
        let range = match text.split_once('-') {
            Some((first, last)) => Self {
                first: parse_port(first)?,
                last: parse_port(last)?,
            },
            None => {
                let port = parse_port(text)?;
                Self {
                    first: port,
                    last: port,
                }
            }
        };
        range.check()?;
        Ok(range)
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl FromStr for PortRange {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|reason| RouteSpecError::PortRange {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for PortRange {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PortRange> for String {
    fn from(value: PortRange) -> Self {
        value.to_string()
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One destination a CONNECT route allows: `db.example.com:5432`, `*.example.com:443`,
/// `10.1.2.3:22`, `[::1]:8080`, `api.example.com:8000-8100`.
///
/// The host follows the [`HostPattern`] rules (so `*` alone is refused as too broad); the
/// port part is a [`PortRange`] and is required.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct ConnectPattern {
    /// Which hosts.
    pub host: HostPattern,
    /// Which ports.
    pub ports: PortRange,
}

// === impl ConnectPattern ===

impl ConnectPattern {
    fn parse(text: &str) -> Result<Self, Reason> {
        if text.is_empty() {
            return Err(Reason::Empty);
        }
        let (host, ports) = split_host_port(text)?;
        let ports = PortRange::parse(ports.ok_or(Reason::MissingPort)?)?;
        let host = HostPattern::parse(host)?;
        Ok(Self { host, ports })
    }

    /// Whether a CONNECT request for `host:port` is allowed by this pattern.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.ports.contains(port) && self.host.matches(host)
    }
}

impl FromStr for ConnectPattern {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|reason| RouteSpecError::ConnectPattern {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for ConnectPattern {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ConnectPattern> for String {
    fn from(value: ConnectPattern) -> Self {
        value.to_string()
    }
}

impl fmt::Display for ConnectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.ports)
    }
}

#[cfg(test)]
mod tests;
