//! Rate limits on the unauthenticated and certificate-issuing endpoints (governor keyed
//! limiters): enrollment and renewal per source IP, renewal per tenant.
//!
//! A refused request is not audited (a flood would write the database); it is counted
//! ([`RateLimiters::refused_total`]) and logged at most once per [`LOG_EVERY`] refusals.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;
use crate::settings::{ControlSettings, RateLimit};

/// One refusal in this many is logged (the first one always).
pub(crate) const LOG_EVERY: u64 = 100;
/// Every this many checks, keys idle long enough to be full again are forgotten, which
/// bounds the limiters' memory.
const RETAIN_EVERY: u64 = 1024;

/// The control plane's limiters.
pub(crate) struct RateLimiters {
    enroll_per_ip: Keyed<IpAddr>,
    renew_per_ip: Keyed<IpAddr>,
    renew_per_tenant: Keyed<String>,
    anonymous_audit_per_ip: Keyed<IpAddr>,
    refused: AtomicU64,
    unaudited: AtomicU64,
}

struct Keyed<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

fn quota(limit: RateLimit) -> Quota {
    let count = limit.count.max(1);
    let per_request = (limit.period / count).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(per_request)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

// === impl Keyed ===

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(limit: RateLimit) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota(limit)),
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when the key is over its limit.
    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

// === impl RateLimiters ===

impl RateLimiters {
    pub(crate) fn new(settings: &ControlSettings) -> Self {
        Self {
            enroll_per_ip: Keyed::new(settings.enroll_per_ip),
            renew_per_ip: Keyed::new(settings.renew_per_ip),
            renew_per_tenant: Keyed::new(settings.renew_per_tenant),
            anonymous_audit_per_ip: Keyed::new(settings.anonymous_audit_per_ip),
            refused: AtomicU64::new(0),
            unaudited: AtomicU64::new(0),
        }
    }

    /// How many requests the limits refused since start.
    pub(crate) fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// How many unauthenticated calls went unaudited because their source was over its
    /// audit budget.
    pub(crate) fn unaudited_total(&self) -> u64 {
        self.unaudited.load(Ordering::Relaxed)
    }

    /// Whether an unauthenticated call from `ip` may write an audit event; when not, it is
    /// counted and logged (the first, then one in [`LOG_EVERY`]).
    pub(crate) fn may_audit_anonymous(&self, ip: IpAddr) -> bool {
        if self.anonymous_audit_per_ip.check(&ip).is_ok() {
            return true;
        }
        let n = self.unaudited.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(LOG_EVERY) {
            tracing::warn!(
                unaudited_total = n,
                source = %ip,
                "control API: unauthenticated calls from this address are over their audit budget; counting them instead of auditing"
            );
        }
        false
    }

    pub(crate) fn check_enroll(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.enroll_per_ip
            .check(&ip)
            .map_err(|wait| self.refuse("enrollments from this address", &ip.to_string(), wait))
    }

    pub(crate) fn check_renew_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.renew_per_ip
            .check(&ip)
            .map_err(|wait| self.refuse("renewals from this address", &ip.to_string(), wait))
    }

    pub(crate) fn check_renew_tenant(&self, tenant: &str) -> Result<(), ApiError> {
        self.renew_per_tenant
            .check(&tenant.to_owned())
            .map_err(|wait| self.refuse("renewals for this tenant", tenant, wait))
    }

    fn refuse(&self, what: &str, key: &str, wait: Duration) -> ApiError {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(LOG_EVERY) {
            tracing::warn!(
                refused_total = n,
                key,
                "control API: rate limit reached ({what}); refusals are counted, not audited"
            );
        }
        ApiError::rate_limited(what, wait)
    }
}
