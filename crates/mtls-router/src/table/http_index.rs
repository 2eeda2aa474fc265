//! One tenant's HTTP routes indexed by host pattern and path prefix, without a copy of either.
//!
//! The index is the routes' positions (in the tenant's HTTP list, which is in tie-break
//! order) sorted by host pattern, then path prefix, then position: the routes of one
//! pattern form a run, the routes of one pattern and prefix a run inside it whose first
//! entry is the tie-break winner. A lookup bisects for each host pattern that could claim
//! the host (most specific first) and, inside that pattern's run, for each segment prefix of
//! the path (longest first). The strings compared are the routes' own (shared with the
//! registry's snapshot), so the index costs 4 bytes per route; per-tenant hash maps keyed by
//! copies of the host names and prefixes cost about 200 (measured at 1,000,000 routes, see
//! `docs/benchmarks/scale.md`).

use std::cmp::Ordering;
use std::net::IpAddr;

use mtls_route_spec::{HostPattern, HttpRoute};

use super::Slot;
use super::host::{HostKey, HostSpecificity, Probe, Probes};
use super::path::longest_prefix;

/// The HTTP part of a tenant's table: see the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpIndex {
    /// Positions into the tenant's HTTP list, sorted by (pattern, prefix, position).
    order: Box<[u32]>,
    /// The most labels of any wildcard suffix (0 when there is no wildcard).
    max_suffix_labels: usize,
    /// The most segments of any non-root prefix.
    max_segments: usize,
}

/// A host pattern as the index orders it: exact names, then IP addresses, then wildcard
/// suffixes (the order only has to be total and the same for building and lookups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PatternKey<'a> {
    Exact(&'a str),
    Ip(IpAddr),
    /// The part after `*.`.
    Suffix(&'a str),
}

impl<'a> PatternKey<'a> {
    fn of(pattern: &'a HostPattern) -> Self {
        match (pattern.ip(), pattern.wildcard_suffix()) {
            (Some(ip), _) => Self::Ip(ip),
            (None, Some(suffix)) => Self::Suffix(suffix),
            (None, None) => Self::Exact(pattern.as_str()),
        }
    }

    fn of_probe(probe: Probe<'a>) -> Self {
        match probe {
            Probe::Ip(ip) => Self::Ip(ip),
            Probe::Name(name) => Self::Exact(name),
            Probe::Suffix { suffix, .. } => Self::Suffix(suffix),
        }
    }
}

/// What a lookup found: the route's position, how specifically its pattern claimed the
/// host, and its prefix's segment count.
pub(crate) type HttpHit = (u32, HostSpecificity, usize);

// === impl HttpIndex ===

impl HttpIndex {
    /// Indexes `slots` (a tenant's HTTP list, in tie-break order).
    pub(crate) fn build<K>(slots: &[Slot<K, HttpRoute>]) -> Self {
        let mut order: Vec<u32> = (0u32..)
            .zip(slots)
            .filter(|(_, slot)| slot.route().is_some())
            .map(|(position, _)| position)
            .collect();
        order.sort_unstable_by(|a, b| sort_key(slots, *a).cmp(&sort_key(slots, *b)));
        let mut index = Self {
            order: order.into_boxed_slice(),
            max_suffix_labels: 0,
            max_segments: 0,
        };
        for route in slots.iter().filter_map(Slot::route) {
            if let Some(suffix) = route.host.wildcard_suffix() {
                let labels = suffix.split('.').count();
                index.max_suffix_labels = index.max_suffix_labels.max(labels);
            }
            index.max_segments = index.max_segments.max(route.path_prefix.segment_count());
        }
        index
    }

    /// The best route for a request to `host` and `path` (no query): the first host
    /// pattern, most specific first, with a prefix matching the path, and its longest such
    /// prefix. `Err(true)` when some pattern claimed the host but none had a matching
    /// prefix, `Err(false)` when no pattern claimed it. Does not allocate.
    pub(crate) fn lookup<K>(
        &self,
        slots: &[Slot<K, HttpRoute>],
        host: HostKey<'_>,
        path: &str,
    ) -> Result<HttpHit, bool> {
        let mut host_matched = false;
        for probe in Probes::new(host, self.max_suffix_labels) {
            let run = self.run(slots, PatternKey::of_probe(probe));
            if run.is_empty() {
                continue;
            }
            host_matched = true;
            if let Some((position, segments)) = self.prefix_in(slots, run, path) {
                return Ok((position, probe.specificity(), segments));
            }
        }
        Err(host_matched)
    }

    /// The run of positions whose pattern is `key`.
    fn run<K>(&self, slots: &[Slot<K, HttpRoute>], key: PatternKey<'_>) -> &[u32] {
        let compare = |p: &u32| match route(slots, *p) {
            Some(r) => PatternKey::of(&r.host).cmp(&key),
            None => Ordering::Less,
        };
        let start = self.order.partition_point(|p| compare(p) == Ordering::Less);
        let rest = &self.order[start..];
        &rest[..rest.partition_point(|p| compare(p) == Ordering::Equal)]
    }

    /// The position of the longest prefix in `run` (one pattern's routes, sorted by prefix)
    /// matching `path`, and its segment count.
    fn prefix_in<K>(
        &self,
        slots: &[Slot<K, HttpRoute>],
        run: &[u32],
        path: &str,
    ) -> Option<(u32, usize)> {
        let prefix = |p: &u32| route(slots, *p).map_or("", |r| r.path_prefix.as_str());
        // `/` sorts before every other prefix (they all start with it and are longer).
        let roots = run.partition_point(|p| prefix(p) == "/");
        let (root, others) = run.split_at(roots);
        let find = |probe: &str| {
            let at = others.partition_point(|p| prefix(p) < probe);
            others.get(at).filter(|p| prefix(p) == probe).copied()
        };
        let longest = match others {
            [] => None,
            _ => longest_prefix(path, self.max_segments, find),
        };
        longest.or_else(|| root.first().map(|p| (*p, 0)))
    }
}

/// Where the route at `position` goes in the index: pattern, prefix, position.
fn sort_key<K>(
    slots: &[Slot<K, HttpRoute>],
    position: u32,
) -> (Option<(PatternKey<'_>, &str)>, u32) {
    let route = route(slots, position);
    let pattern = route.map(|r| (PatternKey::of(&r.host), r.path_prefix.as_str()));
    (pattern, position)
}

/// The HTTP route at `position` (always `Some` for a position the index holds).
fn route<K>(slots: &[Slot<K, HttpRoute>], position: u32) -> Option<&HttpRoute> {
    slots.get(position as usize).and_then(Slot::route)
}
