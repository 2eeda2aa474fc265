//! Host lookups: normalising a request's host without allocating, and the per-tenant index
//! of host patterns that a lookup walks from the most to the least specific.

use std::collections::HashMap;
use std::net::IpAddr;

use mtls_route_spec::{HostPattern, MAX_HOST_NAME_LEN};

/// How specifically a host pattern claimed a request's host. Greater is more specific: any
/// exact name or IP address beats every wildcard, and a wildcard with more labels
/// (`*.a.b.c`, 4) beats one with fewer (`*.b.c`, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HostSpecificity {
    /// A `*.suffix` pattern of `labels` labels, the `*` included.
    Wildcard {
        /// [`HostPattern::label_count`] of the pattern.
        labels: usize,
    },
    /// An exact DNS name or IP address.
    Exact,
}

// === impl HostSpecificity ===

impl HostSpecificity {
    /// How `pattern` ranks when it matches.
    pub fn of(pattern: &HostPattern) -> Self {
        if pattern.is_wildcard() {
            Self::Wildcard {
                labels: pattern.label_count(),
            }
        } else {
            Self::Exact
        }
    }
}

/// A request's host, ready for lookups: a lowercase DNS-like name with no trailing dot and
/// no empty label, or an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKey<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// Scratch space for lowercasing a host on the stack.
pub(crate) type NameBuf = [u8; MAX_HOST_NAME_LEN];

/// Splits the port off a `Host` header value: `api.x:8443` → `api.x`, `[::1]:8443` →
/// `[::1]`. An unbracketed value with several colons is a bare IPv6 address and kept whole.
/// `None` when the value is malformed (a non-numeric port, junk after `]`).
pub(crate) fn strip_port(authority: &str) -> Option<&str> {
    let digits = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Some(host),
            _ => rest.strip_prefix(':').filter(|p| digits(p)).map(|_| host),
        };
    }
    match authority.split_once(':') {
        None => Some(authority),
        Some((_, port)) if port.contains(':') => Some(authority),
        Some((host, port)) => digits(port).then_some(host),
    }
}

/// Normalises a host (no port) the way [`HostPattern::matches`] compares it: one trailing
/// dot ignored, IP literals (IPv6 with or without brackets) parsed, names lowercased (into
/// `buf` only when they hold an uppercase letter).
///
/// `None` means no pattern can match: empty, an empty label, or longer than a DNS name may
/// be (253 bytes).
pub(crate) fn normalize<'a>(host: &'a str, buf: &'a mut NameBuf) -> Option<HostKey<'a>> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if let Some(ip) = ip_literal(host) {
        return Some(HostKey::Ip(ip));
    }
    if host.is_empty() || host.len() > MAX_HOST_NAME_LEN || host.split('.').any(str::is_empty) {
        return None;
    }
    if !host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(HostKey::Name(host));
    }
    let out = &mut buf[..host.len()];
    out.copy_from_slice(host.as_bytes());
    out.make_ascii_lowercase();
    // ASCII lowercasing keeps UTF-8 valid, so this never fails.
    std::str::from_utf8(out).ok().map(HostKey::Name)
}

/// An IP address in `host`: IPv4, or IPv6 with or without brackets. Only hosts that could be
/// one (a colon, brackets or an all-digit last label) are parsed.
fn ip_literal(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.strip_suffix(']')?.parse().ok();
    }
    let last = host.rsplit('.').next().unwrap_or(host);
    let may_be_ip =
        host.contains(':') || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()));
    if may_be_ip { host.parse().ok() } else { None }
}

/// Values of type `T` indexed by host pattern: exact names and IPs in hash maps, wildcards
/// in a hash map keyed by their suffix, so a lookup costs one probe per label of the host.
#[derive(Debug, Clone)]
pub(crate) struct HostIndex<T> {
    exact: HashMap<Box<str>, T>,
    ips: HashMap<IpAddr, T>,
    /// Keyed by the suffix after `*.`.
    wildcards: HashMap<Box<str>, T>,
    /// The most labels of any wildcard suffix: longer host suffixes need no probe.
    max_suffix_labels: usize,
}

// === impl HostIndex ===

impl<T> Default for HostIndex<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            ips: HashMap::new(),
            wildcards: HashMap::new(),
            max_suffix_labels: 0,
        }
    }
}

impl<T> HostIndex<T> {
    /// The value for `pattern`, created with `make` on first use.
    pub(crate) fn entry(&mut self, pattern: &HostPattern, make: impl FnOnce() -> T) -> &mut T {
        if let Some(ip) = pattern.ip() {
            return self.ips.entry(ip).or_insert_with(make);
        }
        match pattern.wildcard_suffix() {
            Some(suffix) => {
                let labels = suffix.split('.').count();
                self.max_suffix_labels = self.max_suffix_labels.max(labels);
                self.wildcards.entry(suffix.into()).or_insert_with(make)
            }
            None => self
                .exact
                .entry(pattern.as_str().into())
                .or_insert_with(make),
        }
    }

    /// Calls `f` on every stored value.
    pub(crate) fn for_each_value(&mut self, mut f: impl FnMut(&mut T)) {
        self.exact.values_mut().for_each(&mut f);
        self.ips.values_mut().for_each(&mut f);
        self.wildcards.values_mut().for_each(&mut f);
    }

    /// Every value whose pattern matches `host`, most specific first.
    pub(crate) fn walk<'s, 'h>(
        &'s self,
        host: HostKey<'h>,
    ) -> impl Iterator<Item = (HostSpecificity, &'s T)> + use<'s, 'h, T> {
        Probes::new(host, self.max_suffix_labels).filter_map(|probe| {
            let found = match probe {
                Probe::Ip(ip) => self.ips.get(&ip),
                Probe::Name(name) => self.exact.get(name),
                Probe::Suffix { suffix, .. } => self.wildcards.get(suffix),
            };
            found.map(|value| (probe.specificity(), value))
        })
    }
}

/// One host pattern that could claim a request's host: see [`Probes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe<'h> {
    /// The host's IP address (an exact pattern of it).
    Ip(IpAddr),
    /// The host's name (an exact pattern of it).
    Name(&'h str),
    /// A `*.suffix` pattern; `labels` is the suffix's label count.
    Suffix { suffix: &'h str, labels: usize },
}

// === impl Probe ===

impl Probe<'_> {
    /// How specifically a pattern found by this probe claims the host.
    pub(crate) fn specificity(&self) -> HostSpecificity {
        match self {
            Self::Ip(_) | Self::Name(_) => HostSpecificity::Exact,
            // The `*` is a label of the pattern too.
            Self::Suffix { labels, .. } => HostSpecificity::Wildcard { labels: labels + 1 },
        }
    }
}

/// The patterns a lookup tries for a host, most specific first: the host itself, then its
/// wildcard suffixes from the longest (`a.b.c.d` → `b.c.d`, `c.d`, `d`), skipping those of
/// more than `max_suffix_labels` labels (the longest stored suffix; 0 when no wildcard is
/// stored, which tries the host only).
pub(crate) struct Probes<'h> {
    state: ProbeState<'h>,
    max_suffix_labels: usize,
}

enum ProbeState<'h> {
    Host(HostKey<'h>),
    /// The part of the name not yet tried as a wildcard suffix, and its label count.
    Wildcard {
        rest: &'h str,
        labels: usize,
    },
    Done,
}

// === impl Probes ===

impl<'h> Probes<'h> {
    pub(crate) fn new(host: HostKey<'h>, max_suffix_labels: usize) -> Self {
        Self {
            state: ProbeState::Host(host),
            max_suffix_labels,
        }
    }
}

impl<'h> Iterator for Probes<'h> {
    type Item = Probe<'h>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.state {
                ProbeState::Host(HostKey::Ip(ip)) => {
                    self.state = ProbeState::Done;
                    return Some(Probe::Ip(ip));
                }
                ProbeState::Host(HostKey::Name(name)) => {
                    self.state = match self.max_suffix_labels {
                        0 => ProbeState::Done,
                        _ => ProbeState::Wildcard {
                            rest: name,
                            labels: name.bytes().filter(|b| *b == b'.').count() + 1,
                        },
                    };
                    return Some(Probe::Name(name));
                }
                ProbeState::Wildcard { rest, labels } => {
                    // `*` stands for at least one label, so the host's own full name is
                    // never a suffix: drop one label, then probe.
                    let Some((_, suffix)) = rest.split_once('.') else {
                        self.state = ProbeState::Done;
                        continue;
                    };
                    let labels = labels - 1;
                    self.state = ProbeState::Wildcard {
                        rest: suffix,
                        labels,
                    };
                    if labels <= self.max_suffix_labels {
                        return Some(Probe::Suffix { suffix, labels });
                    }
                }
                ProbeState::Done => return None,
            }
        }
    }
}

/// How `pattern` ranks against a normalised host, or `None` when it does not match. The
/// straightforward per-pattern check behind explanations.
pub(crate) fn specificity(pattern: &HostPattern, host: HostKey<'_>) -> Option<HostSpecificity> {
    let matched = match (host, pattern.ip()) {
        (HostKey::Ip(ip), Some(want)) => ip == want,
        (HostKey::Ip(_), None) | (HostKey::Name(_), Some(_)) => false,
        (HostKey::Name(name), None) => match pattern.wildcard_suffix() {
            Some(suffix) => name
                .strip_suffix(suffix)
                .and_then(|left| left.strip_suffix('.'))
                .is_some_and(|left| !left.is_empty()),
            None => name == pattern.as_str(),
        },
    };
    matched.then(|| HostSpecificity::of(pattern))
}
