//! Per-tenant limits: concurrent connections and a request rate (governor's GCRA, which
//! behaves as a token bucket holding one second's worth of requests).
//!
//! Every published [`View`](crate::View) holds an immutable map from tenant to
//! `Arc<TenantLimiter>`, built with the view. Nothing on the connection or request path
//! takes a lock: a connection slot is an atomic increment (an RAII [`ConnectionSlot`] gives
//! it back), a request check is one lock-free compare-and-swap in governor. A tenant whose
//! limits did not change keeps its `Arc` across snapshots, so its rate state survives
//! reloads; its open-connection count survives a limit change too (the counter is shared
//! by every limiter of that tenant).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use mtls_identity::TenantId;
use mtls_metrics::{Metrics, Name, TenantMetrics};
use mtls_persistent_map::Map;
use mtls_registry::{Snapshot, SnapshotTenant, TenantLimits};

/// The time source of the request-rate limiters: monotonic time, or in tests a clock that
/// only moves when told to (so refill tests need no sleep).
#[derive(Debug, Clone)]
pub(crate) enum LimiterClock {
    /// Monotonic time since `origin`.
    Monotonic {
        /// When the limiter was built.
        origin: std::time::Instant,
    },
    /// A clock moved by hand ([`FakeRelativeClock::advance`](governor::clock::FakeRelativeClock::advance)).
    #[cfg(test)]
    Manual(governor::clock::FakeRelativeClock),
}

// === impl LimiterClock ===

impl LimiterClock {
    /// Monotonic time, starting now.
    pub(crate) fn monotonic() -> Self {
        Self::Monotonic {
            origin: std::time::Instant::now(),
        }
    }
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            Self::Monotonic { origin } => Nanos::from(origin.elapsed()),
            #[cfg(test)]
            Self::Manual(clock) => clock.now(),
        }
    }
}

/// A request-rate limiter (GCRA) on a [`LimiterClock`].
type RequestRateLimiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Nanos>>;

/// The limits and metric handles of one tenant on one listener.
pub(crate) struct TenantLimiter {
    limits: TenantLimits,
    /// Open connections of the tenant on this listener (shared with the tenant's limiters
    /// of other snapshots, and with every open [`ConnectionSlot`]).
    active: Arc<AtomicUsize>,
    rate: Option<RequestRateLimiter>,
    pub(crate) metrics: TenantMetrics,
}

/// One counted connection of a tenant; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    active: Arc<AtomicUsize>,
}

/// The per-tenant limiters of one view (a persistent map: a view changed for a few tenants
/// shares every other tenant's limiter with the view before it).
pub(crate) type Limiters = Map<TenantId, Arc<TenantLimiter>>;

/// Builds the limiters of `snapshot`, reusing those of `previous` whose limits are unchanged.
pub(crate) fn build(
    snapshot: &Snapshot,
    previous: Option<&Limiters>,
    metrics: &Arc<Metrics>,
    listener: &Name,
) -> Limiters {
    let limiters = snapshot
        .tenants()
        .map(|(id, tenant)| {
            let old = previous.and_then(|p| p.get(id));
            (id.clone(), limiter_of(id, tenant, old, metrics, listener))
        })
        .collect();
    mtls_persistent_map::from_entries(limiters)
}

/// Brings `limiters` (those of an earlier snapshot) to `snapshot` for the `touched` tenants
/// only: a tenant gone loses its limiter, one with new limits gets a new limiter (its
/// open-connection count carried over), one with the same limits keeps its own.
pub(crate) fn update<'t>(
    limiters: &mut Limiters,
    snapshot: &Snapshot,
    touched: impl IntoIterator<Item = &'t TenantId>,
    metrics: &Arc<Metrics>,
    listener: &Name,
) {
    for id in touched {
        match snapshot.tenant(id) {
            None => {
                limiters.remove_cow(id);
            }
            Some(tenant) => {
                let limiter = limiter_of(id, tenant, limiters.get(id), metrics, listener);
                limiters.insert_cow(id.clone(), limiter);
            }
        }
    }
}

/// The limiter of tenant `id`: `old` when its limits are the tenant's, else a new one that
/// carries `old`'s open-connection count over.
fn limiter_of(
    id: &TenantId,
    tenant: &SnapshotTenant,
    old: Option<&Arc<TenantLimiter>>,
    metrics: &Arc<Metrics>,
    listener: &Name,
) -> Arc<TenantLimiter> {
    match old {
        Some(old) if old.limits == tenant.limits => old.clone(),
        _ => Arc::new(TenantLimiter::new(
            tenant.limits,
            old.map(|o| o.active.clone()),
            TenantMetrics::new(metrics.clone(), listener.clone(), id.as_str().into()),
        )),
    }
}

// === impl TenantLimiter ===

impl TenantLimiter {
    /// A limiter for `limits`; `active` carries the open-connection count over from the
    /// tenant's previous limiter.
    pub(crate) fn new(
        limits: TenantLimits,
        active: Option<Arc<AtomicUsize>>,
        metrics: TenantMetrics,
    ) -> Self {
        Self::with_clock(limits, active, metrics, LimiterClock::monotonic())
    }

    /// [`new`](Self::new) with the request rate measured on `clock`.
    pub(crate) fn with_clock(
        limits: TenantLimits,
        active: Option<Arc<AtomicUsize>>,
        metrics: TenantMetrics,
        clock: LimiterClock,
    ) -> Self {
        let rate = limits
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rate| RateLimiter::direct_with_clock(Quota::per_second(rate), clock));
        Self {
            limits,
            active: active.unwrap_or_default(),
            rate,
            metrics,
        }
    }

    /// The limits this limiter enforces.
    pub(crate) fn limits(&self) -> TenantLimits {
        self.limits
    }

    /// The tenant's connection cap: its own `max_connections`, else `default` (the
    /// listener's `tenant_max_connections`).
    pub(crate) fn max_connections(&self, default: NonZeroU32) -> u32 {
        self.limits.max_connections.unwrap_or(default.get())
    }

    /// Takes a connection slot, unless the tenant already holds its cap
    /// ([`TenantLimiter::max_connections`]). On refusal, returns the current count.
    pub(crate) fn connect(&self, default: NonZeroU32) -> Result<ConnectionSlot, usize> {
        let max = usize::try_from(self.max_connections(default)).unwrap_or(usize::MAX);
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                (count < max).then_some(count + 1)
            })
            .map(|_| ConnectionSlot {
                active: self.active.clone(),
            })
    }

    /// Whether the tenant may make one more request now.
    pub(crate) fn allow_request(&self) -> bool {
        self.rate.as_ref().is_none_or(|r| r.check().is_ok())
    }

    /// Open connections of the tenant on this listener.
    #[cfg(test)]
    pub(crate) fn open_connections(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }
}

// === impl ConnectionSlot ===

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(max_connections: Option<u32>, requests_per_second: Option<u32>) -> TenantLimiter {
        let limits = TenantLimits {
            max_connections,
            requests_per_second,
        };
        let metrics = TenantMetrics::new(Arc::new(Metrics::new()), "gw".into(), "a".into());
        TenantLimiter::new(limits, None, metrics)
    }

    const DEFAULT: NonZeroU32 = NonZeroU32::new(1024).unwrap();

    #[test]
    fn connection_slots_are_counted_and_freed() {
        let a = limiter(Some(2), None);
        let first = a.connect(DEFAULT).unwrap();
        let _second = a.connect(DEFAULT).unwrap();
        assert_eq!(a.connect(DEFAULT).unwrap_err(), 2);
        drop(first);
        assert_eq!(a.open_connections(), 1);
        assert!(a.connect(DEFAULT).is_ok());
        // Without a limit of its own, the tenant gets the default cap.
        let b = limiter(None, None);
        let default = NonZeroU32::new(10).unwrap();
        let held: Vec<_> = (0..10).map(|_| b.connect(default).unwrap()).collect();
        assert_eq!(b.open_connections(), 10);
        assert_eq!(b.connect(default).unwrap_err(), 10, "over the default cap");
        assert_eq!(b.max_connections(default), 10);
        drop(held);
        assert_eq!(b.open_connections(), 0);
    }

    #[test]
    fn the_tenants_own_cap_overrides_the_default() {
        let a = limiter(Some(3), None);
        let small = NonZeroU32::new(1).unwrap();
        assert_eq!(a.max_connections(small), 3);
        let held: Vec<_> = (0..3).map(|_| a.connect(small).unwrap()).collect();
        assert_eq!(a.connect(small).unwrap_err(), 3);
        drop(held);
    }

    #[test]
    fn open_connections_carry_over_a_limit_change() {
        let old = limiter(Some(1), None);
        let slot = old.connect(DEFAULT).unwrap();
        let metrics = TenantMetrics::new(Arc::new(Metrics::new()), "gw".into(), "a".into());
        let limits = TenantLimits {
            max_connections: Some(2),
            requests_per_second: None,
        };
        let new = TenantLimiter::new(limits, Some(old.active.clone()), metrics);
        assert_eq!(new.open_connections(), 1);
        let _second = new.connect(DEFAULT).unwrap();
        assert_eq!(new.connect(DEFAULT).unwrap_err(), 2);
        drop(slot);
        assert_eq!(new.open_connections(), 1);
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let clock = FakeRelativeClock::default();
        let limits = TenantLimits {
            max_connections: None,
            requests_per_second: Some(3),
        };
        let metrics = TenantMetrics::new(Arc::new(Metrics::new()), "gw".into(), "a".into());
        let a =
            TenantLimiter::with_clock(limits, None, metrics, LimiterClock::Manual(clock.clone()));
        let allowed = (0..10).filter(|_| a.allow_request()).count();
        assert_eq!(allowed, 3, "a full bucket holds one second's worth");
        // One token comes back every 333 ms: not yet after 300 ms, one after 334 ms.
        clock.advance(Duration::from_millis(300));
        assert!(!a.allow_request());
        clock.advance(Duration::from_millis(34));
        assert!(a.allow_request());
        assert!(!a.allow_request());
        // A whole second refills the bucket, and no more than that.
        clock.advance(Duration::from_secs(5));
        assert_eq!((0..10).filter(|_| a.allow_request()).count(), 3);
        assert!(limiter(None, None).allow_request(), "no limit set");
    }
}
