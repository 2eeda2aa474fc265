//! Explanations of HTTP lookups for `tenantctl explain`: the winner and the candidates it
//! beat, each with the reason it lost.

use std::cmp::Reverse;
use std::fmt;

use mtls_route_spec::HttpRoute;

use crate::table::host::{HostKey, HostSpecificity, specificity};
use crate::table::outcome::{HttpMatch, HttpRank, NoRoute};

/// Where a candidate stands against the winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// It wins.
    Winner,
    /// Its host pattern is less specific than the winner's.
    LessSpecificHost,
    /// Same host pattern, shorter path prefix.
    ShorterPrefix,
    /// Same host pattern and prefix: it comes later in tie-break order (a duplicate route).
    LaterTieBreak,
}

// === impl Verdict ===

impl Verdict {
    fn of(rank: HttpRank, winner: HttpRank) -> Self {
        if rank == winner {
            Self::Winner
        } else if rank.host() < winner.host() {
            Self::LessSpecificHost
        } else if rank.prefix_segments() < winner.prefix_segments() {
            Self::ShorterPrefix
        } else {
            Self::LaterTieBreak
        }
    }

    /// A few words for people: `wins`, `less specific host`, `shorter prefix`,
    /// `later in tie-break order`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Winner => "wins",
            Self::LessSpecificHost => "less specific host",
            Self::ShorterPrefix => "shorter prefix",
            Self::LaterTieBreak => "later in tie-break order",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One route whose host and path prefix both match the request.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCandidate<'a, K> {
    /// The caller's key of the route.
    pub key: &'a K,
    /// The route.
    pub route: &'a HttpRoute,
    /// Its ranking summary.
    pub rank: HttpRank,
    /// Whether it won, or why it lost.
    pub verdict: Verdict,
}

// === impl HttpCandidate ===

// By hand: the derives would require `K: Copy`, but only references to `K` are held.
impl<K> Clone for HttpCandidate<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for HttpCandidate<'_, K> {}

/// The answer of [`RouteTable::explain_http`](crate::RouteTable::explain_http).
///
/// With `K: Display` it prints one line per route considered, e.g.
///
/// ```text
/// r-1 api.acme.test/v1: wins (exact host, 1 prefix segment)
/// r-2 *.acme.test/: less specific host (wildcard of 3 labels, 0 prefix segments)
/// r-3 api.acme.test/admin: host matches, path prefix does not
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpExplanation<'a, K> {
    /// What [`match_http`](crate::RouteTable::match_http) returns for the same request.
    pub outcome: Result<HttpMatch<'a, K>, NoRoute>,
    /// Routes matching host and path, best first; the first is the winner.
    pub candidates: Vec<HttpCandidate<'a, K>>,
    /// Routes whose host pattern matches but whose path prefix does not, in tie-break order.
    pub path_misses: Vec<(&'a K, &'a HttpRoute)>,
}

// === impl HttpExplanation ===

impl<'a, K> HttpExplanation<'a, K> {
    pub(crate) fn unknown_tenant() -> Self {
        Self {
            outcome: Err(NoRoute::UnknownTenant),
            candidates: Vec::new(),
            path_misses: Vec::new(),
        }
    }

    /// Checks every route of the tenant, in tie-break order, against the normalised host
    /// (`None`: unusable) and the path without query.
    pub(crate) fn scan(
        routes: impl Iterator<Item = (&'a K, &'a HttpRoute)>,
        host: Option<HostKey<'_>>,
        path: &str,
    ) -> Self {
        let mut candidates = Vec::new();
        let mut path_misses = Vec::new();
        if let Some(host) = host {
            for (position, (key, route)) in (0u32..).zip(routes) {
                let Some(specificity) = specificity(&route.host, host) else {
                    continue;
                };
                if route.path_prefix.matches(path) {
                    let segments = route.path_prefix.segment_count();
                    candidates.push(HttpCandidate {
                        key,
                        route,
                        rank: HttpRank::new(specificity, segments, position),
                        verdict: Verdict::Winner,
                    });
                } else {
                    path_misses.push((key, route));
                }
            }
        }
        candidates.sort_by_key(|c| Reverse(c.rank));
        let outcome = match candidates.first().copied() {
            Some(best) => {
                for candidate in &mut candidates {
                    candidate.verdict = Verdict::of(candidate.rank, best.rank);
                }
                Ok(HttpMatch {
                    key: best.key,
                    route: best.route,
                    rank: best.rank,
                })
            }
            None if path_misses.is_empty() => Err(NoRoute::NoHostMatch),
            None => Err(NoRoute::NoPathMatch),
        };
        Self {
            outcome,
            candidates,
            path_misses,
        }
    }
}

impl<K: fmt::Display> fmt::Display for HttpExplanation<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Err(reason) = self.outcome {
            writeln!(f, "no route: {reason}")?;
        }
        for c in &self.candidates {
            let host = match c.rank.host() {
                HostSpecificity::Exact => "exact host".to_owned(),
                HostSpecificity::Wildcard { labels } => format!("wildcard of {labels} labels"),
            };
            let segments = c.rank.prefix_segments();
            let plural = if segments == 1 { "" } else { "s" };
            writeln!(
                f,
                "{} {}{}: {} ({host}, {segments} prefix segment{plural})",
                c.key, c.route.host, c.route.path_prefix, c.verdict
            )?;
        }
        for (key, route) in &self.path_misses {
            writeln!(
                f,
                "{key} {}{}: host matches, path prefix does not",
                route.host, route.path_prefix
            )?;
        }
        Ok(())
    }
}
