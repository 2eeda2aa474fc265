//! The `[control]` section.

use std::time::Duration;

use super::Checker;
use crate::raw::{RawControl, RawControlRateLimits};
use crate::types::{ControlConfig, ControlRateLimit};

const DAY: u64 = 24 * 3600;
const DEFAULT_CERT_VALIDITY: Duration = Duration::from_secs(30 * DAY);
/// The CA's longest leaf validity.
const MAX_CERT_VALIDITY: Duration = Duration::from_secs(825 * DAY);
const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(30 * DAY);
const DEFAULT_MAX_RECOVERIES: u32 = 3;
const MAX_RECOVERIES: i64 = 100;
const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
const MIN_BODY_BYTES: i64 = 1024;
const MAX_BODY_BYTES: i64 = 16 * 1024 * 1024;
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Where `[control]` listens when `listen` is not given.
const DEFAULT_LISTEN: &str = "127.0.0.1:8444";
const MAX_CONNECTIONS: i64 = 65_536;
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// The largest rate-limit count or burst.
const MAX_RATE: i64 = 1_000_000;

/// Validates `[control]`; `None` when a problem was recorded.
pub(super) fn control(c: &mut Checker, raw: RawControl) -> Option<ControlConfig> {
    let before = c.problems.len();
    // Loopback unless the operator says otherwise: serving remote callers is a choice.
    let listen = c.socket_addr(
        "control.listen",
        raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN),
    );
    let data_dir = c.data_dir.clone();
    let cert = file(c, "control.cert", raw.cert.as_ref())
        .unwrap_or_else(|| data_dir.join("server/cert.pem"));
    let key =
        file(c, "control.key", raw.key.as_ref()).unwrap_or_else(|| data_dir.join("server/key.pem"));
    let ca = file(c, "control.ca", raw.ca.as_ref()).unwrap_or_else(|| data_dir.join("ca.pem"));
    let cert_validity = c.duration(
        "control.cert_validity",
        raw.cert_validity.as_deref(),
        DEFAULT_CERT_VALIDITY,
    );
    if cert_validity > MAX_CERT_VALIDITY {
        c.problem(
            "control.cert_validity",
            format!(
                "{} is longer than the CA's limit of 825 days",
                humantime::format_duration(cert_validity)
            ),
        );
    }
    let recovery_window = duration_or_zero(
        c,
        "control.recovery_window",
        raw.recovery_window.as_deref(),
        DEFAULT_RECOVERY_WINDOW,
    );
    let max_recoveries = integer(
        c,
        "control.max_recoveries",
        raw.max_recoveries,
        0,
        MAX_RECOVERIES,
    )
    .map_or(DEFAULT_MAX_RECOVERIES, |n| n as u32);
    let max_body_bytes = integer(
        c,
        "control.max_body_bytes",
        raw.max_body_bytes,
        MIN_BODY_BYTES,
        MAX_BODY_BYTES,
    )
    .map_or(DEFAULT_MAX_BODY_BYTES, |n| n as usize);
    let max_connections = integer(
        c,
        "control.max_connections",
        raw.max_connections,
        1,
        MAX_CONNECTIONS,
    )
    .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize);
    let handshake_timeout = c.duration(
        "control.handshake_timeout",
        raw.handshake_timeout.as_deref(),
        DEFAULT_HANDSHAKE_TIMEOUT,
    );
    let r = raw.rate_limits.unwrap_or_default();
    let (enroll_per_ip, renew_per_ip, renew_per_tenant, anonymous_audit_per_ip) =
        rate_limits(c, &r);
    if c.problems.len() != before {
        return None;
    }
    Some(ControlConfig {
        listen: listen?,
        cert,
        key,
        ca,
        cert_validity,
        recovery_window,
        max_recoveries,
        max_body_bytes,
        max_connections,
        handshake_timeout,
        enroll_per_ip,
        renew_per_ip,
        renew_per_tenant,
        anonymous_audit_per_ip,
    })
}

fn rate_limits(
    c: &mut Checker,
    r: &RawControlRateLimits,
) -> (
    ControlRateLimit,
    ControlRateLimit,
    ControlRateLimit,
    ControlRateLimit,
) {
    let mut limit = |count_field: &str,
                     count: Option<i64>,
                     default_count: u32,
                     burst_field: &str,
                     burst: Option<i64>,
                     default_burst: u32,
                     period: Duration| ControlRateLimit {
        count: integer(c, count_field, count, 1, MAX_RATE).map_or(default_count, |n| n as u32),
        burst: integer(c, burst_field, burst, 1, MAX_RATE).map_or(default_burst, |n| n as u32),
        period,
    };
    let enroll = limit(
        "control.rate_limits.enroll_per_ip_per_minute",
        r.enroll_per_ip_per_minute,
        10,
        "control.rate_limits.enroll_per_ip_burst",
        r.enroll_per_ip_burst,
        5,
        MINUTE,
    );
    let renew_ip = limit(
        "control.rate_limits.renew_per_ip_per_minute",
        r.renew_per_ip_per_minute,
        10,
        "control.rate_limits.renew_per_ip_burst",
        r.renew_per_ip_burst,
        5,
        MINUTE,
    );
    let renew_tenant = limit(
        "control.rate_limits.renew_per_tenant_per_hour",
        r.renew_per_tenant_per_hour,
        6,
        "control.rate_limits.renew_per_tenant_burst",
        r.renew_per_tenant_burst,
        3,
        HOUR,
    );
    let anonymous_audit = limit(
        "control.rate_limits.anonymous_audit_per_ip_per_minute",
        r.anonymous_audit_per_ip_per_minute,
        60,
        "control.rate_limits.anonymous_audit_per_ip_burst",
        r.anonymous_audit_per_ip_burst,
        60,
        MINUTE,
    );
    (enroll, renew_ip, renew_tenant, anonymous_audit)
}

/// An optional path, resolved against the config file's folder.
fn file(
    c: &mut Checker,
    field: &str,
    value: Option<&std::path::PathBuf>,
) -> Option<std::path::PathBuf> {
    value?;
    c.path(field, value)
}

/// An integer within `min..=max`, or a problem naming the range.
fn integer(c: &mut Checker, field: &str, value: Option<i64>, min: i64, max: i64) -> Option<i64> {
    let n = value?;
    if (min..=max).contains(&n) {
        Some(n)
    } else {
        c.problem(field, format!("{n} is outside {min} to {max}"));
        None
    }
}

/// A duration that may be zero (`"0s"`).
fn duration_or_zero(
    c: &mut Checker,
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Duration {
    let Some(text) = value else { return default };
    match humantime::parse_duration(text) {
        Ok(d) => d,
        Err(e) => {
            c.problem(
                field,
                format!("{text:?} is not a duration ({e}); write e.g. \"30d\", \"12h\" or \"0s\""),
            );
            default
        }
    }
}
