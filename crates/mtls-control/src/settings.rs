//! What the control plane is configured with (the `[control]` section of mtlsd's config
//! maps onto [`ControlSettings`]).

use std::time::Duration;

/// One rate limit: `count` requests per `period`, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests replenished per period (at least 1).
    pub count: u32,
    /// The period over which `count` requests are replenished.
    pub period: Duration,
    /// How many requests may come at once (at least 1).
    pub burst: u32,
}

// === impl RateLimit ===

impl RateLimit {
    /// `count` per minute, bursts of `burst`.
    pub const fn per_minute(count: u32, burst: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(60),
            burst,
        }
    }

    /// `count` per hour, bursts of `burst`.
    pub const fn per_hour(count: u32, burst: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(3600),
            burst,
        }
    }
}

/// The control plane's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// Validity of certificates issued by enrollment and renewal. Default 30 days.
    pub cert_validity: Duration,
    /// How long after its notAfter an expired tenant certificate may still call
    /// `POST /v1/renew` (and nothing else). Default 30 days; zero disables recovery.
    /// Admin certificates never get this window.
    pub recovery_window: Duration,
    /// How many recovered certificates one lineage may hold. Default 3.
    pub max_recoveries: u32,
    /// The largest request body accepted (413 above). Default 64 KiB.
    pub max_body_bytes: usize,
    /// Concurrent connections [`ControlPlane::serve`](crate::ControlPlane::serve) keeps
    /// open; one more is closed at accept (and logged, at most once a second). Default 256.
    pub max_connections: usize,
    /// How long a TLS handshake may take before the connection is dropped. Default 10 s.
    pub handshake_timeout: Duration,
    /// `POST /v1/enroll` per source IP. Default 10 per minute, bursts of 5.
    pub enroll_per_ip: RateLimit,
    /// `POST /v1/renew` per source IP. Default 10 per minute, bursts of 5.
    pub renew_per_ip: RateLimit,
    /// `POST /v1/renew` per tenant. Default 6 per hour, bursts of 3.
    pub renew_per_tenant: RateLimit,
    /// Audit events for unauthenticated calls (reads of the CRL and the OpenAPI document,
    /// refused calls without an acceptable certificate) per source IP. Default 60 per
    /// minute, bursts of 60. Calls beyond it are served (or refused) as usual but counted
    /// ([`ControlStats::unaudited_total`](crate::ControlStats::unaudited_total)) and logged
    /// instead of audited: the audit log is append-only, and an anonymous flood must not
    /// grow it without bound.
    pub anonymous_audit_per_ip: RateLimit,
}

/// The default [`ControlSettings::cert_validity`]: 30 days.
pub const DEFAULT_CERT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default [`ControlSettings::recovery_window`]: 30 days.
pub const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default [`ControlSettings::max_recoveries`].
pub const DEFAULT_MAX_RECOVERIES: u32 = 3;
/// The default [`ControlSettings::max_body_bytes`]: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The default [`ControlSettings::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// The default [`ControlSettings::handshake_timeout`]: 10 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            cert_validity: DEFAULT_CERT_VALIDITY,
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            max_recoveries: DEFAULT_MAX_RECOVERIES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            enroll_per_ip: RateLimit::per_minute(10, 5),
            renew_per_ip: RateLimit::per_minute(10, 5),
            renew_per_tenant: RateLimit::per_hour(6, 3),
            anonymous_audit_per_ip: RateLimit::per_minute(60, 60),
        }
    }
}
