//! The one error type of route specifications, and the reasons behind each rejection.

use std::net::IpAddr;
use std::path::PathBuf;

/// Why a route specification, or one of its values, was rejected.
///
/// Every variant names the field or kind of value and carries the rejected text, so a message
/// like `upstream "ftp://x": scheme must be http or https` can be shown to an operator as is.
/// The precise problem with a single value is a [`Reason`]; see [`RouteSpecError::reason`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteSpecError {
    /// A route kind other than `http`, `tcp` or `connect`.
    #[error("route kind {value:?}: expected \"http\", \"tcp\" or \"connect\"")]
    UnknownKind {
        /// The rejected text.
        value: String,
    },
    /// A host or host pattern (`api.example.com`, `*.example.com`, `10.0.0.1`, `[::1]`).
    #[error("host {value:?}: {reason}")]
    Host {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// A `host:port` address.
    #[error("address {value:?}: {reason}")]
    Address {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// A port or port range (`443`, `8000-8100`).
    #[error("port range {value:?}: {reason}")]
    PortRange {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// An HTTP path prefix.
    #[error("path prefix {value:?}: {reason}")]
    PathPrefix {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// An upstream URL.
    #[error("upstream {value:?}: {reason}")]
    Upstream {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// A header to add (`name: value`).
    #[error("header {value:?}: {reason}")]
    Header {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// A CONNECT allow pattern (`host:ports`).
    #[error("connect pattern {value:?}: {reason}")]
    ConnectPattern {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// The `rewrite_host` of an HTTP route (a `host[:port]`).
    #[error("rewrite_host {value:?}: {reason}")]
    RewriteHost {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// `upstream_tls.server_name` (a DNS name or IP address).
    #[error("upstream_tls.server_name {value:?}: {reason}")]
    ServerName {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// `upstream_tls.identity` (the name of an identity the proxy holds).
    #[error("upstream_tls.identity {value:?}: {reason}")]
    IdentityName {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: Reason,
    },
    /// `upstream_tls.ca_file`.
    #[error("upstream_tls.ca_file {path:?}: {reason}")]
    CaFile {
        /// The rejected path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `timeout` is not a humantime duration.
    #[error("timeout {value:?}: not a duration such as \"30s\" or \"1m 30s\"")]
    Timeout {
        /// The rejected text.
        value: String,
        /// The parser's complaint.
        #[source]
        source: humantime::DurationError,
    },
    /// `timeout` is zero.
    #[error("timeout \"0s\": must be greater than zero")]
    ZeroTimeout,
    /// A list with too few or too many entries.
    #[error("{field}: {count} entries given; {min} to {max} are allowed")]
    Count {
        /// The list field (`upstreams`, `add_headers`, `allow`).
        field: &'static str,
        /// How many entries it had.
        count: usize,
        /// The minimum.
        min: usize,
        /// The maximum.
        max: usize,
    },
    /// A list with the same entry twice.
    #[error("{field}: {value:?} appears more than once")]
    Duplicate {
        /// The list field (`upstreams`, `add_headers`, `allow`).
        field: &'static str,
        /// The repeated entry (for headers, the name).
        value: String,
    },
    /// An HTTP route's `path_prefix` that no normalised request path can match: it holds a
    /// backslash or an escaped control byte, or an escaped slash (`%2F`, `%5C`) while the
    /// route's `escaped_slashes` is `refuse`.
    #[error("path_prefix {value:?} never matches a normalised request path: {problem}{}", escaped_slash_hint(.problem))]
    UnmatchablePathPrefix {
        /// The prefix.
        value: String,
        /// What the request-path normaliser refuses in it.
        problem: mtls_request_path::PathError,
    },
    /// `upstream_tls` was set on a route whose upstreams are all plain `http`.
    #[error("upstream_tls: set, but no upstream uses https")]
    UpstreamTlsWithoutHttps,
    /// `egress_bind` is an address a socket cannot usefully bind to as its source.
    #[error("egress_bind {addr}: {reason}")]
    EgressBind {
        /// The rejected address.
        addr: IpAddr,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A TCP route's `sni` is an IP address, which TLS clients never send as SNI.
    #[error("sni {value:?}: an IP address is never sent as SNI; use a DNS name or pattern")]
    SniIpLiteral {
        /// The rejected pattern.
        value: String,
    },
    /// A CONNECT pattern names a non-public address but the route does not set `allow_private`.
    #[error("allow {pattern:?}: {range} address; set allow_private to permit it")]
    PrivateDestination {
        /// The pattern, in canonical form.
        pattern: String,
        /// The kind of range (`loopback`, `private`, `link-local`, ...).
        range: &'static str,
    },
    /// An HTTP or TCP route being added has an upstream that is a non-public IP address but
    /// does not set `allow_private` ([`RouteSpec::validate_new`](crate::RouteSpec::validate_new)).
    #[error(
        "upstream {upstream:?}: {why} address; set allow_private (tenantctl: --allow-private) to permit it"
    )]
    PrivateUpstream {
        /// The upstream, in canonical form.
        upstream: String,
        /// The range it is in.
        why: crate::NonPublic,
    },
}

// === impl RouteSpecError ===

impl RouteSpecError {
    /// The precise problem, for errors about a single parsed value.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::Host { reason, .. }
            | Self::Address { reason, .. }
            | Self::PortRange { reason, .. }
            | Self::PathPrefix { reason, .. }
            | Self::Upstream { reason, .. }
            | Self::Header { reason, .. }
            | Self::ConnectPattern { reason, .. }
            | Self::RewriteHost { reason, .. }
            | Self::ServerName { reason, .. }
            | Self::IdentityName { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// What exactly is wrong with a single value. Shown after the value in [`RouteSpecError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The value is empty.
    #[error("must not be empty")]
    Empty,
    /// The value is longer than allowed.
    #[error("is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A host has an empty label.
    #[error("has an empty label (a leading, trailing or doubled '.')")]
    EmptyLabel,
    /// A host label is longer than 63 bytes.
    #[error("has a label of {len} bytes; the limit is 63")]
    LabelTooLong {
        /// The label's length.
        len: usize,
    },
    /// A character not allowed in this kind of value.
    #[error("contains {found:?}, which is not allowed here")]
    BadChar {
        /// The offending character.
        found: char,
    },
    /// A host label starts or ends with `-`.
    #[error("has a label starting or ending with '-'")]
    HyphenAtLabelEdge,
    /// The last label of a DNS name is all digits (it looks like a mistyped IPv4 address).
    #[error("its last label is all digits; not a DNS name nor a valid IPv4 address")]
    NumericTopLabel,
    /// `*` or `*.` with nothing after it.
    #[error("wildcard needs a suffix with at least one label, as in \"*.example.com\"")]
    WildcardWithoutSuffix,
    /// `*` somewhere other than as the whole leftmost label.
    #[error("'*' is only allowed as the whole leftmost label, as in \"*.example.com\"")]
    MisplacedWildcard,
    /// A wildcard where only a concrete host is allowed.
    #[error("wildcards are not allowed here; name one host")]
    WildcardNotAllowed,
    /// Bracketed text that is not an IPv6 address, or an unclosed bracket.
    #[error("not a valid IPv6 address in brackets, as in \"[2001:db8::1]\"")]
    BadIpv6,
    /// An IPv6 address without brackets.
    #[error("IPv6 addresses must be written in brackets, as in \"[2001:db8::1]\"")]
    UnbracketedIpv6,
    /// A port where none is allowed (`upstream_tls.server_name`, host patterns).
    #[error("must not include a port")]
    UnexpectedPort,
    /// No `:port` where one is required.
    #[error("needs a port, as in \"example.com:443\"")]
    MissingPort,
    /// A port that is not a number from 1 to 65535.
    #[error("port must be a number from 1 to 65535")]
    BadPort,
    /// Port 0.
    #[error("port 0 is not allowed")]
    PortZero,
    /// A port range whose first port is above its last.
    #[error("first port is greater than last port")]
    ReversedRange,
    /// A path that does not start with `/`.
    #[error("must start with '/'")]
    NotAbsolute,
    /// A path with `?` or `#`.
    #[error("must not contain a query ('?') or fragment ('#')")]
    QueryOrFragment,
    /// A path with `//`.
    #[error("must not contain an empty segment ('//')")]
    EmptySegment,
    /// A path with a `.` or `..` segment (also percent-encoded).
    #[error("must not contain '.' or '..' segments, plain or percent-encoded")]
    DotSegment,
    /// A path ending in `/` that is not the root.
    #[error("must not end with '/' (only the root \"/\" may)")]
    TrailingSlash,
    /// A `%` not followed by two hex digits.
    #[error("'%' must be followed by two hex digits")]
    BadPercentEscape,
    /// A URL without `scheme://`.
    #[error("needs a scheme, as in \"https://host\"")]
    MissingScheme,
    /// A URL scheme other than `http` or `https`.
    #[error("scheme must be http or https")]
    BadScheme,
    /// A URL with `user@`.
    #[error("must not contain user info ('user@')")]
    UserInfo,
    /// A URL with no host.
    #[error("has no host")]
    MissingHost,
    /// A URL the `http` crate refuses.
    #[error("is not a valid URI")]
    NotUri,
    /// Header text without the `:` between name and value.
    #[error("expected \"name: value\"")]
    MissingColon,
    /// A header name the proxy sets or strips itself.
    #[error("is a hop-by-hop or identity header that the proxy manages; it cannot be added")]
    ReservedHeader,
}

fn escaped_slash_hint(problem: &mtls_request_path::PathError) -> &'static str {
    if problem.is_escaped_separator() {
        " (allowed only with escaped_slashes \"keep\")"
    } else {
        ""
    }
}
