//! Per-tenant limits: concurrent connections and a request rate (token bucket).
//!
//! State is kept per tenant of one gateway listener, in maps bounded by the registry's
//! tenants (entries of tenants that left the registry are dropped on each new snapshot).
//! The locks are plain mutexes held for a few instructions, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use mtls_identity::TenantId;
use mtls_registry::Snapshot;
use tokio::time::Instant;

/// A token bucket: `rate` tokens per second, holding at most one second's worth.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: u32,
    tokens: f64,
    updated: Instant,
}

// === impl Bucket ===

impl Bucket {
    fn new(rate: u32, now: Instant) -> Self {
        Self {
            rate,
            tokens: f64::from(rate),
            updated: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let cap = f64::from(self.rate);
        self.tokens = (self.tokens + elapsed * cap).min(cap);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-tenant connection counts and rate buckets of one listener.
#[derive(Debug, Default)]
pub(crate) struct TenantLimiter {
    connections: Arc<Mutex<HashMap<TenantId, usize>>>,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

/// One counted connection of a tenant; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    connections: Arc<Mutex<HashMap<TenantId, usize>>>,
    tenant: TenantId,
}

// === impl TenantLimiter ===

impl TenantLimiter {
    /// Takes a connection slot for `tenant`, unless it already holds `max` (`None`: no
    /// limit). On refusal, returns the current count.
    pub(crate) fn connect(
        &self,
        tenant: &TenantId,
        max: Option<u32>,
    ) -> Result<ConnectionSlot, usize> {
        let mut map = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(tenant.clone()).or_insert(0);
        if let Some(max) = max
            && *count >= max as usize
        {
            return Err(*count);
        }
        *count += 1;
        Ok(ConnectionSlot {
            connections: self.connections.clone(),
            tenant: tenant.clone(),
        })
    }

    /// Whether `tenant` may make one more request now at `rate` per second (`None`: no
    /// limit). A changed rate starts a fresh, full bucket.
    pub(crate) fn allow_request(&self, tenant: &TenantId, rate: Option<u32>) -> bool {
        let Some(rate) = rate.filter(|r| *r > 0) else {
            return true;
        };
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = map
            .entry(tenant.clone())
            .or_insert_with(|| Bucket::new(rate, now));
        if bucket.rate != rate {
            *bucket = Bucket::new(rate, now);
        }
        bucket.take(now)
    }

    /// Drops the rate state of tenants `snapshot` no longer holds (connection counts go
    /// away with their last slot).
    pub(crate) fn forget_unknown(&self, snapshot: &Snapshot) {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|t, _| snapshot.tenant(t).is_some());
    }

    /// Open connections of `tenant` on this listener.
    #[cfg(test)]
    pub(crate) fn open_connections(&self, tenant: &TenantId) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }
}

// === impl ConnectionSlot ===

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_counted_and_freed() {
        let limiter = TenantLimiter::default();
        let a: TenantId = "a".parse().unwrap();
        let first = limiter.connect(&a, Some(2)).unwrap();
        let _second = limiter.connect(&a, Some(2)).unwrap();
        assert_eq!(limiter.connect(&a, Some(2)).unwrap_err(), 2);
        drop(first);
        assert_eq!(limiter.open_connections(&a), 1);
        assert!(limiter.connect(&a, Some(2)).is_ok());
        // Without a limit, anything goes; other tenants are separate.
        let b: TenantId = "b".parse().unwrap();
        let held: Vec<_> = (0..10)
            .map(|_| limiter.connect(&b, None).unwrap())
            .collect();
        assert_eq!(limiter.open_connections(&b), 10);
        drop(held);
        assert_eq!(limiter.open_connections(&b), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_refills_over_time() {
        let limiter = TenantLimiter::default();
        let a: TenantId = "a".parse().unwrap();
        let allowed = (0..10)
            .filter(|_| limiter.allow_request(&a, Some(3)))
            .count();
        assert_eq!(allowed, 3, "a full bucket holds one second's worth");
        tokio::time::advance(std::time::Duration::from_millis(340)).await;
        assert!(limiter.allow_request(&a, Some(3)));
        assert!(!limiter.allow_request(&a, Some(3)));
        assert!(limiter.allow_request(&a, None), "no limit set");
    }
}
