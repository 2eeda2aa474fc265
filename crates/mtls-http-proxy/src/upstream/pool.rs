//! Round-robin over a route's upstreams, skipping the ones that failed recently.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use mtls_route_spec::UpstreamUrl;
use tokio::time::Instant;

/// The default time a failed upstream is skipped: 10 seconds.
pub const DEFAULT_FAILURE_COOLDOWN: Duration = Duration::from_secs(10);

/// A pool with no upstream was requested.
#[derive(Debug, thiserror::Error)]
#[error("an upstream pool needs at least one upstream")]
pub struct EmptyPool;

/// A route's upstreams, picked round-robin without locks.
///
/// A target reported with [`mark_failed`](UpstreamPool::mark_failed) (it refused or
/// timed out the connection) is skipped for the cooldown; when every target is cooling
/// down, the one that failed longest ago is picked, so a route whose upstreams all flap
/// still gets tried rather than refused outright. [`mark_ok`](UpstreamPool::mark_ok) ends a
/// cooldown early. All state is atomics: picking is a `fetch_add` plus one load per
/// target.
#[derive(Debug)]
pub struct UpstreamPool {
    targets: Box<[Target]>,
    next: AtomicUsize,
    cooldown: Duration,
    epoch: Instant,
}

#[derive(Debug)]
struct Target {
    url: UpstreamUrl,
    /// Nanoseconds after `epoch` of the last failure, plus one; 0 when healthy.
    failed_at: AtomicU64,
}

// === impl UpstreamPool ===

impl UpstreamPool {
    /// A pool over `urls` (in order) with the given failure cooldown.
    pub fn new(urls: Vec<UpstreamUrl>, cooldown: Duration) -> Result<Self, EmptyPool> {
        if urls.is_empty() {
            return Err(EmptyPool);
        }
        Ok(Self {
            targets: urls
                .into_iter()
                .map(|url| Target {
                    url,
                    failed_at: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            cooldown,
            epoch: Instant::now(),
        })
    }

    /// The number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Always false: a pool has at least one target.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The URL of target `index`.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn url(&self, index: usize) -> &UpstreamUrl {
        &self.targets[index].url
    }

    /// The next target to use: the index for [`mark_failed`](Self::mark_failed) and
    /// [`mark_ok`](Self::mark_ok).
    pub fn pick(&self) -> usize {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = self.now();
        let cooldown = u64::try_from(self.cooldown.as_nanos()).unwrap_or(u64::MAX);
        let mut oldest = (u64::MAX, start);
        for k in 0..n {
            let i = (start + k) % n;
            let failed_at = self.targets[i].failed_at.load(Ordering::Relaxed);
            if failed_at == 0 || now.saturating_sub(failed_at - 1) >= cooldown {
                return i;
            }
            if failed_at < oldest.0 {
                oldest = (failed_at, i);
            }
        }
        oldest.1
    }

    /// Whether target `index` is currently being skipped.
    pub fn is_cooling_down(&self, index: usize) -> bool {
        let failed_at = self.targets[index].failed_at.load(Ordering::Relaxed);
        let cooldown = u64::try_from(self.cooldown.as_nanos()).unwrap_or(u64::MAX);
        failed_at != 0 && self.now().saturating_sub(failed_at - 1) < cooldown
    }

    /// Records that target `index` could not be connected to: it is skipped for the cooldown.
    pub fn mark_failed(&self, index: usize) {
        let now = self.now().saturating_add(1);
        self.targets[index].failed_at.store(now, Ordering::Relaxed);
    }

    /// Records that target `index` answered: any cooldown ends.
    pub fn mark_ok(&self, index: usize) {
        let target = &self.targets[index];
        // Skip the store in the common case, so healthy targets do not bounce cache lines.
        if target.failed_at.load(Ordering::Relaxed) != 0 {
            target.failed_at.store(0, Ordering::Relaxed);
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> UpstreamPool {
        let urls = (0..n)
            .map(|i| format!("http://10.0.0.{}:80", i + 1).parse().unwrap())
            .collect();
        UpstreamPool::new(urls, Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn empty_is_refused() {
        assert!(UpstreamPool::new(Vec::new(), Duration::from_secs(1)).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_in_order() {
        let pool = pool(3);
        let picks: Vec<usize> = (0..6).map(|_| pool.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        assert_eq!(pool.url(1).to_string(), "http://10.0.0.2");
        assert_eq!(pool.len(), 3);
        assert!(!pool.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_target_is_skipped_until_cooldown_ends() {
        let pool = pool(3);
        pool.mark_failed(1);
        assert!(pool.is_cooling_down(1));
        let picks: Vec<usize> = (0..6).map(|_| pool.pick()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!pool.is_cooling_down(1));
        let picks: Vec<usize> = (0..3).map(|_| pool.pick()).collect();
        assert!(picks.contains(&1), "{picks:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn mark_ok_ends_cooldown() {
        let pool = pool(2);
        pool.mark_failed(0);
        pool.mark_ok(0);
        assert!(!pool.is_cooling_down(0));
        let picks: Vec<usize> = (0..2).map(|_| pool.pick()).collect();
        assert_eq!(picks, [0, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn all_failing_picks_least_recently_failed() {
        let pool = pool(3);
        pool.mark_failed(2);
        tokio::time::advance(Duration::from_secs(1)).await;
        pool.mark_failed(0);
        tokio::time::advance(Duration::from_secs(1)).await;
        pool.mark_failed(1);
        for _ in 0..4 {
            assert_eq!(pool.pick(), 2);
        }
    }
}
