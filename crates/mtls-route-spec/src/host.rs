//! Host names, host patterns and `host:port` addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Reason, RouteSpecError};

/// The longest DNS name a host pattern or host may be, in bytes, without a trailing dot (the
/// matcher sizes its lowercasing buffer by it).
pub const MAX_HOST_NAME_LEN: usize = 253;

/// Checks a DNS name (no wildcard) and returns it lowercased.
///
/// Labels are 1 to 63 ASCII letters, digits and `-`, not starting or ending with `-`; the
/// last label is not all digits (so `1.2.3` is not silently taken as a name).
pub(crate) fn check_dns_name(name: &str) -> Result<String, Reason> {
    if name.is_empty() {
        return Err(Reason::Empty);
    }
    if name.len() > MAX_HOST_NAME_LEN {
        return Err(Reason::TooLong {
            len: name.len(),
            max: MAX_HOST_NAME_LEN,
        });
    }
    let mut last: &[u8] = &[];
    for label in name.as_bytes().split(|b| *b == b'.') {
        if label.is_empty() {
            return Err(Reason::EmptyLabel);
        }
        if let Some(at) = label
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        {
            return Err(bad_label_char(name, label, at));
        }
        if label.len() > 63 {
            return Err(Reason::LabelTooLong { len: label.len() });
        }
        if label.first() == Some(&b'-') || label.last() == Some(&b'-') {
            return Err(Reason::HyphenAtLabelEdge);
        }
        last = label;
    }
    if last.iter().all(u8::is_ascii_digit) {
        return Err(Reason::NumericTopLabel);
    }
    Ok(name.to_ascii_lowercase())
}

/// The error for the byte at `at` of `label` (a slice of `name`), which is neither a letter,
/// a digit nor a hyphen: the whole character it starts, or a misplaced wildcard.
#[cold]
fn bad_label_char(name: &str, label: &[u8], at: usize) -> Reason {
    let offset = label.as_ptr() as usize - name.as_ptr() as usize + at;
    match name[offset..].chars().next() {
        Some('*') => Reason::MisplacedWildcard,
        Some(found) => Reason::BadChar { found },
        None => Reason::Empty,
    }
}

/// Parses an IP literal: dotted IPv4, or IPv6 in brackets. `Ok(None)` means "not an IP
/// literal, try a DNS name"; an unbracketed IPv6 address or bad bracket content is an error.
fn parse_ip_literal(text: &str) -> Result<Option<IpAddr>, Reason> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(Reason::BadIpv6)?;
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| Some(IpAddr::V6(ip)))
            .map_err(|_| Reason::BadIpv6);
    }
    if text.contains(':') {
        return Err(if text.parse::<Ipv6Addr>().is_ok() {
            Reason::UnbracketedIpv6
        } else {
            Reason::BadChar { found: ':' }
        });
    }
    Ok(text.parse::<Ipv4Addr>().ok().map(IpAddr::V4))
}

/// The canonical text of `ip`, parsed by [`parse_ip_literal`] from `text`. An IPv4 address is
/// its own text: the standard library's parser takes only the canonical dotted quad (four
/// decimal octets, no leading zeros), so formatting it again would give `text` back. IPv6
/// text is formatted again (case, zero compression, brackets).
fn canonical_ip_text(text: &str, ip: IpAddr) -> Box<str> {
    match ip {
        IpAddr::V4(_) => text.into(),
        IpAddr::V6(v6) => v6.to_string().into(),
    }
}

/// Formats an IP the way it appears in a URL authority: IPv6 in brackets.
pub(crate) fn fmt_ip(ip: &IpAddr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match ip {
        IpAddr::V4(v4) => write!(f, "{v4}"),
        IpAddr::V6(v6) => write!(f, "[{v6}]"),
    }
}

/// Splits `host:port` at the port colon, honouring `[IPv6]:port`. The port is `None` when
/// there is no colon after the host.
pub(crate) fn split_host_port(text: &str) -> Result<(&str, Option<&str>), Reason> {
    if text.starts_with('[') {
        let close = text.find(']').ok_or(Reason::BadIpv6)?;
        let (host, rest) = text.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(Reason::BadIpv6),
            },
        };
    }
    match text.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 address, maybe with a port.
        Some((host, _)) if host.contains(':') => Err(Reason::UnbracketedIpv6),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((text, None)),
    }
}

/// Parses a port: 1 to 5 ASCII digits, 1..=65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, Reason> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reason::BadPort);
    }
    match text.parse::<u32>() {
        Ok(0) => Err(Reason::PortZero),
        Ok(n) => u16::try_from(n).map_err(|_| Reason::BadPort),
        Err(_) => Err(Reason::BadPort),
    }
}

/// A concrete host: a DNS name (lowercase) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Host {
    /// The DNS name, or the IP address without brackets.
    text: Box<str>,
    ip: Option<IpAddr>,
}

// === impl Host ===

impl Host {
    pub(crate) fn parse(text: &str) -> Result<Self, Reason> {
        if let Some(ip) = parse_ip_literal(text)? {
            return Ok(Self {
                text: canonical_ip_text(text, ip),
                ip: Some(ip),
            });
        }
        if text.starts_with("*.") || text == "*" {
            return Err(Reason::WildcardNotAllowed);
        }
        Ok(Self {
            text: check_dns_name(text)?.into(),
            ip: None,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.ip
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ip {
            Some(ip) => fmt_ip(ip, f),
            None => f.write_str(&self.text),
        }
    }
}

/// Which traffic a [`HostPattern`] claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum PatternKind {
    /// One DNS name.
    Exact,
    /// `*.suffix`: one or more labels left of the suffix.
    Wildcard,
    /// One IP address.
    Ip(IpAddr),
}

/// A host or host pattern: `api.example.com`, `*.example.com`, `10.0.0.5` or `[2001:db8::1]`.
///
/// DNS names are ASCII letters, digits and `-` in labels of 1 to 63 bytes, at most 253 bytes
/// in all, compared case-insensitively and stored lowercase. A wildcard `*` is only allowed
/// as the whole leftmost label and stands for **one or more** labels, so `*.example.com`
/// matches `a.example.com` and `a.b.example.com` but never `example.com`. `*` alone is
/// refused as too broad. IPv6 addresses are written in brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct HostPattern {
    /// Canonical text; for a wildcard the suffix is `text[2..]`.
    text: Box<str>,
    kind: PatternKind,
}

// === impl HostPattern ===

impl HostPattern {
    pub(crate) fn parse(text: &str) -> Result<Self, Reason> {
        if let Some(ip) = parse_ip_literal(text)? {
            return Ok(Self {
                text: canonical_ip_text(text, ip),
                kind: PatternKind::Ip(ip),
            });
        }
        if text == "*" {
            return Err(Reason::WildcardWithoutSuffix);
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            if suffix.is_empty() {
                return Err(Reason::WildcardWithoutSuffix);
            }
            if text.len() > MAX_HOST_NAME_LEN {
                return Err(Reason::TooLong {
                    len: text.len(),
                    max: MAX_HOST_NAME_LEN,
                });
            }
            let suffix = check_dns_name(suffix)?;
            return Ok(Self {
                text: format!("*.{suffix}").into(),
                kind: PatternKind::Wildcard,
            });
        }
        Ok(Self {
            text: check_dns_name(text)?.into(),
            kind: PatternKind::Exact,
        })
    }

    /// The canonical text without brackets: a lowercase name, `*.suffix`, or an IP address.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `*.suffix` patterns.
    pub fn is_wildcard(&self) -> bool {
        self.kind == PatternKind::Wildcard
    }

    /// The address, when the pattern is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            PatternKind::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    /// For a wildcard, the suffix after `*.` (`example.com` for `*.example.com`).
    pub fn wildcard_suffix(&self) -> Option<&str> {
        match self.kind {
            PatternKind::Wildcard => Some(&self.text[2..]),
            _ => None,
        }
    }

    /// How many labels a DNS pattern names (`*` counts as one); 0 for IP literals. A longer
    /// pattern is more specific, which is how a matcher ranks overlapping wildcards.
    pub fn label_count(&self) -> usize {
        match self.kind {
            PatternKind::Ip(_) => 0,
            _ => self.text.split('.').count(),
        }
    }

    /// Whether a request's host (no port; an optional trailing dot is ignored; IPv6 with or
    /// without brackets) is claimed by this pattern. Case-insensitive; does not allocate.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match self.kind {
            PatternKind::Exact => host.eq_ignore_ascii_case(&self.text),
            PatternKind::Wildcard => {
                let suffix = &self.text[2..];
                let Some(split) = host.len().checked_sub(suffix.len() + 1) else {
                    return false;
                };
                let (Some(left), Some(right)) = (host.get(..split), host.get(split..)) else {
                    return false;
                };
                right.as_bytes()[0] == b'.'
                    && right[1..].eq_ignore_ascii_case(suffix)
                    && !left.is_empty()
                    && left.split('.').all(|label| !label.is_empty())
            }
            PatternKind::Ip(ip) => {
                let bare = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                bare.parse::<IpAddr>() == Ok(ip)
            }
        }
    }
}

impl FromStr for HostPattern {
    type Err = RouteSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|reason| RouteSpecError::Host {
            value: text.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for HostPattern {
    type Error = RouteSpecError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<HostPattern> for String {
    fn from(value: HostPattern) -> Self {
        value.to_string()
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PatternKind::Ip(ip) => fmt_ip(ip, f),
            _ => f.write_str(&self.text),
        }
    }
}

#[cfg(test)]
mod tests;
