//! Small helpers: randomness, hex, times.

use std::fmt::Write;

use time::OffsetDateTime;

/// Fills `N` bytes from the system CSPRNG (aws-lc-rs).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // aws-lc-rs only fails here when the OS refuses randomness; nothing sensible can go on.
    aws_lc_rs::rand::fill(&mut out).expect("the system random number generator failed");
    out
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `prefix` followed by 16 lowercase hex characters (64 random bits).
pub(crate) fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex(&random_bytes::<8>()))
}

/// Hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// A time at the precision the registry keeps: UTC, whole seconds (as in X.509). A backend
/// truncates the clock's time and the certificate validity it records with it, so that what
/// it reads back equals what it returned, and audit hashes recompute.
pub fn stored_time(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
}

/// RFC 3339 in UTC, e.g. `2026-11-02T10:00:00Z`: how audit hashes write an event's time,
/// and how a backend writes times into audit details.
pub fn audit_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        // Formatting fails only for years outside 0..=9999, which unix seconds from our clock
        // never reach; fall back to the unix time rather than panic.
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
