//! Path lookups: one host pattern's path prefixes, probed longest first.

use mtls_route_spec::PathPrefix;

/// The path part of a request target: everything before the first `?`.
pub(crate) fn strip_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(path, _)| path)
}

/// The path prefixes of one host pattern, each naming a route by position.
///
/// A lookup probes the path's own segment prefixes from the longest to the shortest
/// (`/a/b/c`, `/a/b`, `/a`, then `/`), so the first hit is the longest matching prefix.
/// Probes longer than the longest stored prefix are skipped.
///
/// A host pattern has a handful of prefixes at most, so they are a sorted vector searched
/// by bisection (one small allocation) rather than a hash map (one per host of a million
/// routes, several times the size).
#[derive(Debug, Clone, Default)]
pub(crate) struct PathIndex {
    /// Non-root prefixes, sorted.
    prefixes: Vec<(Box<str>, u32)>,
    /// The route of the root prefix `/`.
    root: Option<u32>,
    /// The most segments of any stored non-root prefix.
    max_segments: usize,
}

// === impl PathIndex ===

impl PathIndex {
    /// Stores `prefix` for route `position`; an already stored prefix keeps its route (the
    /// caller inserts in tie-break order, so the first route wins).
    pub(crate) fn insert(&mut self, prefix: &PathPrefix, position: u32) {
        if prefix.is_root() {
            self.root.get_or_insert(position);
            return;
        }
        self.max_segments = self.max_segments.max(prefix.segment_count());
        if let Err(at) = self.find(prefix.as_str()) {
            self.prefixes.insert(at, (prefix.as_str().into(), position));
        }
    }

    /// Where `prefix` is among the stored prefixes (`Err`: where it would go).
    fn find(&self, prefix: &str) -> Result<usize, usize> {
        self.prefixes.binary_search_by(|(p, _)| (**p).cmp(prefix))
    }

    /// The route of the longest prefix matching `path` (no query) and that prefix's segment
    /// count.
    pub(crate) fn lookup(&self, path: &str) -> Option<(u32, usize)> {
        if !self.prefixes.is_empty() {
            let bytes = path.as_bytes();
            // A prefix of n segments holds n slashes; a probe ends before a slash or at the
            // end. Start at the longest probe that can still match: just before the
            // (max_segments + 1)-th slash.
            let mut end = bytes.len();
            let mut slashes = 0;
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'/' {
                    if slashes == self.max_segments {
                        end = i;
                        break;
                    }
                    slashes += 1;
                }
            }
            loop {
                if end > 0
                    && let Ok(at) = self.find(&path[..end])
                {
                    return Some((self.prefixes[at].1, slashes));
                }
                match bytes[..end].iter().rposition(|b| *b == b'/') {
                    Some(slash) if slash > 0 => {
                        end = slash;
                        slashes -= 1;
                    }
                    _ => break,
                }
            }
        }
        self.root.map(|position| (position, 0))
    }
}
