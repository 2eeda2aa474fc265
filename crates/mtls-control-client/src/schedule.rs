//! When to renew, and how long to wait after a failure. Sync and pure.

use std::time::Duration;

use time::OffsetDateTime;

/// The point in a certificate's lifetime at which it is renewed: 2/3 of the way from
/// notBefore to notAfter (a third of the lifetime is left for retries).
///
/// ```
/// use time::macros::datetime;
/// let not_before = datetime!(2026-12-01 00:00 UTC);
/// let not_after = datetime!(2026-12-31 00:00 UTC); // 30 days
/// assert_eq!(
///     mtls_control_client::renewal_time(not_before, not_after),
///     datetime!(2026-12-21 00:00 UTC), // after 20 days
/// );
/// ```
pub fn renewal_time(not_before: OffsetDateTime, not_after: OffsetDateTime) -> OffsetDateTime {
    if not_after <= not_before {
        return not_before;
    }
    let lifetime = not_after - not_before;
    not_before + lifetime * 2 / 3
}

/// How long to wait from `now` until `due`: zero when it is already due (or overdue, as
/// with an expired certificate, which still renews: the server may recover it).
pub fn delay_until(due: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let left = due - now;
    if left.is_positive() {
        left.try_into().unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

/// Bounded exponential backoff between failed renewal attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait; doubling stops here.
    pub max: Duration,
}

impl Default for Backoff {
    /// 2 seconds, doubling up to 5 minutes.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

// === impl Backoff ===

impl Backoff {
    /// The wait after `failures` consecutive failures (1 = the first): `initial`,
    /// doubling each time, never more than `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn renewal_is_at_two_thirds_of_the_lifetime() {
        let nb = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            renewal_time(nb, nb + time::Duration::hours(3)),
            nb + time::Duration::hours(2)
        );
        assert_eq!(
            renewal_time(nb, nb + time::Duration::seconds(90)),
            nb + time::Duration::seconds(60)
        );
        // A nonsensical validity renews at once.
        assert_eq!(renewal_time(nb, nb), nb);
        assert_eq!(renewal_time(nb, nb - time::Duration::days(1)), nb);
    }

    #[test]
    fn delay_is_zero_when_due_or_overdue() {
        let due = datetime!(2026-01-01 12:00 UTC);
        assert_eq!(
            delay_until(due, due - time::Duration::minutes(5)),
            Duration::from_secs(300)
        );
        assert_eq!(delay_until(due, due), Duration::ZERO);
        // An expired certificate: renew now.
        assert_eq!(
            delay_until(due, due + time::Duration::days(40)),
            Duration::ZERO
        );
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let waits: Vec<u64> = (1..=9).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    proptest::proptest! {
        #[test]
        fn renewal_time_lies_inside_the_validity(start in 0i64..4_000_000_000, len in 1i64..100_000_000) {
            let nb = OffsetDateTime::from_unix_timestamp(start).unwrap();
            let na = nb + time::Duration::seconds(len);
            let due = renewal_time(nb, na);
            proptest::prop_assert!(due > nb && due < na);
            // At least 1/3 of the lifetime left (to the nanosecond rounding).
            proptest::prop_assert!((na - due) * 3 >= (na - nb) - time::Duration::nanoseconds(3));
        }

        #[test]
        fn backoff_never_exceeds_max(n in 0u32..1000, init in 1u64..100, max in 100u64..10_000) {
            let b = Backoff { initial: Duration::from_millis(init), max: Duration::from_millis(max) };
            proptest::prop_assert!(b.delay(n) <= b.max);
            proptest::prop_assert!(b.delay(n) <= b.delay(n + 1));
        }
    }
}
