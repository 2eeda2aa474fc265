//! The session cache of every server config: rustls' in-memory cache, with each entry bounded
//! in time by the listener's session lifetime and by the expiry of the client certificate
//! chain the session was authenticated with.
//!
//! rustls does not verify the client certificate again when a session resumes, and it never
//! ages out a stateful session: each resumption stores fresh entries (TLS 1.3 issues new
//! tickets), so without a bound an expired certificate could keep resuming for ever. This
//! cache stamps every entry, when rustls stores it, with the time it stops being usable:
//! `min(now + lifetime, notAfter of every certificate in the session's client chain)`. An
//! entry past its stamp is never handed back, and the client falls back to a full handshake,
//! which verifies the certificate again.
//!
//! The chain is read from the value rustls stores. That value is rustls' own encoding of
//! its `ServerSessionValue` (SNI, version, suite, secret, EMS flag, client chain, ...),
//! built from the connection's verified peer chain (for a resumed connection, the chain the
//! original full handshake verified: rustls carries it over). Its layout is not a public
//! API, so it is decoded defensively: any value that does not decode exactly as expected
//! (a different rustls encoding) is not stored — resumption stops working, never the
//! bound. A unit test decodes values from real handshakes to catch such a change.

use std::sync::Arc;
use std::time::Duration;

use rustls::server::StoresServerSessions;
use time::OffsetDateTime;

/// The number of sessions each server config keeps. rustls' default is 256; a TLS 1.3 full
/// handshake stores one entry per ticket it sends (two by default), so 256 entries served
/// only 128 clients before the oldest sessions were pushed out. Each entry holds the
/// session's client chain (about 0.5–2 KiB): 4096 entries stay within a few MiB per
/// listener.
pub(crate) const SESSION_CACHE_SIZE: usize = 4096;

/// A clock (wall time: certificate validity is wall time).
pub(crate) type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// A [`StoresServerSessions`] whose entries expire no later than the client certificate
/// chain they resume, and no later than `lifetime` after they were stored.
pub(crate) struct ExpiringSessionCache {
    inner: Arc<dyn StoresServerSessions>,
    lifetime: Duration,
    /// Whether every session must carry a client certificate (required client auth): a value
    /// without one is not stored.
    require_client_cert: bool,
    clock: Clock,
}

// === impl ExpiringSessionCache ===

impl ExpiringSessionCache {
    /// A cache of [`SESSION_CACHE_SIZE`] entries on the system clock.
    pub(crate) fn new(lifetime: Duration, require_client_cert: bool) -> Self {
        Self::with_clock(
            lifetime,
            require_client_cert,
            Arc::new(OffsetDateTime::now_utc),
        )
    }

    /// Like [`ExpiringSessionCache::new`] with another clock (for tests).
    pub(crate) fn with_clock(lifetime: Duration, require_client_cert: bool, clock: Clock) -> Self {
        Self {
            inner: rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
            lifetime,
            require_client_cert,
            clock,
        }
    }

    /// Until when an entry stored now for `value` may be used; `None`: do not store it.
    fn usable_until(&self, value: &[u8], now: OffsetDateTime) -> Option<OffsetDateTime> {
        let by_lifetime = now + self.lifetime;
        let until = match session_chain_not_after(value) {
            Ok(Some(not_after)) => by_lifetime.min(not_after),
            Ok(None) if !self.require_client_cert => by_lifetime,
            // A session without a client certificate on a listener that requires one, or a
            // value this code cannot read: fail closed.
            Ok(None) | Err(_) => return None,
        };
        (until > now).then_some(until)
    }

    /// `stamped` without its stamp, if the stamp is still in the future.
    fn unstamp(&self, stamped: Vec<u8>) -> Option<Vec<u8>> {
        let (stamp, value) = stamped.split_first_chunk::<8>()?;
        let until = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(i64::from_be_bytes(*stamp)) * 1_000_000,
        )
        .ok()?;
        ((self.clock)() <= until).then(|| value.to_vec())
    }
}

impl std::fmt::Debug for ExpiringSessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpiringSessionCache")
            .field("lifetime", &self.lifetime)
            .field("require_client_cert", &self.require_client_cert)
            .finish_non_exhaustive()
    }
}

impl StoresServerSessions for ExpiringSessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let now = (self.clock)();
        let Some(until) = self.usable_until(&value, now) else {
            return false;
        };
        // Milliseconds since the epoch; truncating can only make the entry end earlier.
        let stamp = i64::try_from(until.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut stamped = Vec::with_capacity(8 + value.len());
        stamped.extend_from_slice(&stamp.to_be_bytes());
        stamped.extend_from_slice(&value);
        self.inner.put(key, stamped)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let stamped = self.inner.get(key)?;
        let value = self.unstamp(stamped);
        if value.is_none() {
            // Expired: drop it now rather than when the cache is full.
            self.inner.take(key);
        }
        value
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner
            .take(key)
            .and_then(|stamped| self.unstamp(stamped))
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

/// Why a stored session value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SessionValueError {
    /// The value ends before a field it announces.
    #[error("the session value is truncated")]
    Truncated,
    /// A field holds a value rustls never writes there (another encoding).
    #[error("the session value has an unexpected layout")]
    Layout,
    /// A certificate of the client chain does not parse.
    #[error("a certificate of the session's client chain does not parse")]
    Certificate,
}

/// The earliest notAfter of the client certificate chain in a session value stored by
/// rustls 0.23 (`None`: the session has no client certificate).
///
/// Layout read (rustls `ServerSessionValue::encode`): SNI flag u8 (+ u8-length name),
/// version u16, cipher suite u16, master secret (u8 length), extended-master-secret u8, chain
/// flag u8 (+ u24-length list of u24-length DER certificates), then fields not needed here.
pub(crate) fn session_chain_not_after(
    value: &[u8],
) -> Result<Option<OffsetDateTime>, SessionValueError> {
    let mut r = Reader(value);
    match r.u8()? {
        0 => {}
        1 => {
            let len = r.u8()?;
            r.take(usize::from(len))?;
        }
        _ => return Err(SessionValueError::Layout),
    }
    let version = r.take(2)?;
    // TLS 1.2 or 1.3: the only versions rustls resumes.
    if version != [0x03, 0x03] && version != [0x03, 0x04] {
        return Err(SessionValueError::Layout);
    }
    r.take(2)?; // cipher suite
    let secret = r.u8()?;
    r.take(usize::from(secret))?;
    if r.u8()? > 1 {
        return Err(SessionValueError::Layout);
    }
    match r.u8()? {
        0 => return Ok(None),
        1 => {}
        _ => return Err(SessionValueError::Layout),
    }
    let chain_len = r.u24()?;
    let mut chain = Reader(r.take(chain_len)?);
    let mut earliest: Option<OffsetDateTime> = None;
    while !chain.0.is_empty() {
        let cert_len = chain.u24()?;
        let der = chain.take(cert_len)?;
        // Only the validity field is read: this runs for every ticket of every handshake.
        let (_, not_after) =
            mtls_identity::validity_of_der(der).map_err(|_| SessionValueError::Certificate)?;
        earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
    }
    Ok(earliest)
}

/// A cursor over a byte slice.
struct Reader<'a>(&'a [u8]);

// === impl Reader ===

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SessionValueError> {
        if self.0.len() < n {
            return Err(SessionValueError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SessionValueError> {
        Ok(self.take(1)?[0])
    }

    fn u24(&mut self) -> Result<usize, SessionValueError> {
        let b = self.take(3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}
