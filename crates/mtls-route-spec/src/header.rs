//! Headers an HTTP route adds to upstream requests.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Reason, RouteSpecError};

/// The longest header value we accept, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;

/// The longest header name we accept, in bytes.
const MAX_HEADER_NAME_LEN: usize = 128;

/// Header names the proxy manages itself: hop-by-hop headers (RFC 9110 section 7.6.1),
/// framing, and the identity headers it sets from the client certificate. Names starting
/// with `x-mtls-` are reserved as well.
pub const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-client-cert",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// A header added to upstream requests, written `name: value` (`x-env: prod`).
///
/// The name is an HTTP token (stored lowercase) that is not in [`RESERVED_HEADERS`] and does
/// not start with `x-mtls-`; the value is visible ASCII, spaces and tabs, without leading or
/// trailing whitespace, at most 4096 bytes (it may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct HeaderSpec {
    name: Box<str>,
    value: Box<str>,
}

// === impl HeaderSpec ===

impl HeaderSpec {
    /// Validates a name and value.
    pub fn try_new(name: &str, value: &str) -> Result<Self, RouteSpecError> {
        Self::check(name, value).map_err(|reason| RouteSpecError::Header {
            value: format!("{name}: {value}"),
            reason,
        })
    }

    fn check(name: &str, value: &str) -> Result<Self, Reason> {
        if name.is_empty() {
            return Err(Reason::Empty);
        }
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err(Reason::TooLong {
                len: name.len(),
                max: MAX_HEADER_NAME_LEN,
            });
        }
        if let Some(found) = name.chars().find(|c| !is_tchar(*c)) {
            return Err(Reason::BadChar { found });
        }
        let name = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&name.as_str()) || name.starts_with("x-mtls-") {
            return Err(Reason::ReservedHeader);
        }
        if value.len() > MAX_HEADER_VALUE_LEN {
            return Err(Reason::TooLong {
                len: value.len(),
                max: MAX_HEADER_VALUE_LEN,
            });
        }
        if let Some(found) = value
            .chars()
            .find(|c| !(*c == '\t' || (' '..='~').contains(c)))
        {
            return Err(Reason::BadChar { found });
        }
        if value.trim_matches([' ', '\t']).len() != value.len() {
            let found = if value.starts_with('\t') || value.ends_with('\t') {
                '\t'
            } else {
                ' '
            };
            return Err(Reason::BadChar { found });
        }
        Ok(Self {
            name: name.into(),
            value: value.into(),
        })
    }

    /// The name, lowercase.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// An RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

impl FromStr for HeaderSpec {
    type Err = RouteSpecError;

    /// Parses `name: value`; whitespace around the value is dropped.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = match text.split_once(':') {
            Some((name, value)) => Self::check(name, value.trim_matches([' ', '\t'])),
            None if text.is_empty() => Err(Reason::Empty),
            None => Err(Reason::MissingColon),
        };
        parsed.map_err(|reason| RouteSpecError::Header {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for HeaderSpec {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<HeaderSpec> for String {
    fn from(value: HeaderSpec) -> Self {
        value.to_string()
    }
}

impl fmt::Display for HeaderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:", self.name)
        } else {
            write!(f, "{}: {}", self.name, self.value)
        }
    }
}

#[cfg(test)]
mod tests;
