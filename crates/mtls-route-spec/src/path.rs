//! HTTP path prefixes.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Reason, RouteSpecError};

/// The longest path prefix we accept, in bytes.
pub const MAX_PATH_PREFIX_LEN: usize = 1024;

/// An HTTP path prefix such as `/` or `/api/v1`, matched on segment boundaries.
///
/// Rules: starts with `/`; visible ASCII only (`!` to `~`, so no spaces or controls); no `?` or
/// `#`; no empty segments (`//`); no `.` or `..` segments, also when percent-encoded (`%2e`);
/// no trailing `/` except for the root `/`; every `%` starts a two-hex-digit escape; at most
/// 1024 bytes. Escapes of unreserved characters are decoded (`/%7Eu` is `/~u`) and the others
/// stored with uppercase hex digits, so `/a%2f` and `/a%2F` are the same prefix: the form
/// request paths take after normalisation (`mtls-request-path`), which is what prefixes are
/// matched against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct PathPrefix(
    /// The canonical text, except the root's: held empty, which needs no allocation (most
    /// routes and nearly every upstream URL have the root prefix).
    Box<str>,
);

// === impl PathPrefix ===

impl PathPrefix {
    /// The root prefix `/`, which matches every path.
    pub fn root() -> Self {
        Self(Box::default())
    }

    pub(crate) fn parse(text: &str) -> Result<Self, Reason> {
        if text.is_empty() {
            return Err(Reason::Empty);
        }
        if text.len() > MAX_PATH_PREFIX_LEN {
            return Err(Reason::TooLong {
                len: text.len(),
                max: MAX_PATH_PREFIX_LEN,
            });
        }
        if !text.starts_with('/') {
            return Err(Reason::NotAbsolute);
        }
        if text == "/" {
            return Ok(Self::root());
        }
        let bytes = text.as_bytes();
        let mut canonical = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'?' | b'#' => return Err(Reason::QueryOrFragment),
                b'%' => {
                    let hex = bytes.get(i + 1..i + 3).ok_or(Reason::BadPercentEscape)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(Reason::BadPercentEscape);
                    }
                    // Unreserved characters are decoded, as request paths are before
                    // matching (mtls-request-path), so that `/%7Eu` matches `/~u`.
                    let digit = |d: u8| char::from(d).to_digit(16).unwrap_or(0) as u8;
                    let byte = digit(hex[0]) << 4 | digit(hex[1]);
                    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                        canonical.push(char::from(byte));
                    } else {
                        canonical.push('%');
                        canonical.push(char::from(hex[0].to_ascii_uppercase()));
                        canonical.push(char::from(hex[1].to_ascii_uppercase()));
                    }
                    i += 3;
                    continue;
                }
                b'!'..=b'~' => canonical.push(char::from(b)),
                _ => {
                    let found = text[i..].chars().next().unwrap_or('\u{fffd}');
                    return Err(Reason::BadChar { found });
                }
            }
            i += 1;
        }
        if canonical == "/" {
            return Ok(Self::root());
        }
        if canonical.ends_with('/') {
            return Err(Reason::TrailingSlash);
        }
        for segment in canonical[1..].split('/') {
            if segment.is_empty() {
                return Err(Reason::EmptySegment);
            }
            if is_dot_segment(segment) {
                return Err(Reason::DotSegment);
            }
        }
        Ok(Self(canonical.into()))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        if self.is_root() { "/" } else { &self.0 }
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of segments: 0 for `/`, 2 for `/api/v1`. More segments is more specific.
    pub fn segment_count(&self) -> usize {
        if self.is_root() {
            0
        } else {
            self.0.bytes().filter(|b| *b == b'/').count()
        }
    }

    /// Whether a request path (the path only, no query) falls under this prefix, on segment
    /// boundaries: `/api` matches `/api`, `/api/` and `/api/x`, not `/apix`; `/` matches all.
    /// Byte-wise and case-sensitive; does not allocate.
    pub fn matches(&self, path: &str) -> bool {
        if self.is_root() {
            return true;
        }
        match path.as_bytes().strip_prefix(self.0.as_bytes()) {
            Some(rest) => rest.is_empty() || rest[0] == b'/',
            None => false,
        }
    }
}

/// A segment that is `.` or `..` once `%2E` escapes are decoded (input is canonical, so hex
/// digits are uppercase).
fn is_dot_segment(segment: &str) -> bool {
    let mut dots = 0;
    let mut rest = segment;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("%2E") {
            rest = r;
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

impl Default for PathPrefix {
    fn default() -> Self {
        Self::root()
    }
}

impl FromStr for PathPrefix {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|reason| RouteSpecError::PathPrefix {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for PathPrefix {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PathPrefix> for String {
    fn from(value: PathPrefix) -> Self {
        value.as_str().into()
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
