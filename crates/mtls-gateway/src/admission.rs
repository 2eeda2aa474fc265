//! What an accepted connection holds, from `accept` to its last byte.
//!
//! Two phases, bounded separately:
//!
//! - **Handshake** ([`Handshaking`]): a permit of the listener's `max_handshakes` semaphore
//!   and a count in the per-source table (`max_handshakes_per_source`, an IPv4 address or an
//!   IPv6 /64). No `max_connections` slot is held, so clients that connect and never finish
//!   their handshake cannot take the slots of established connections.
//! - **Established** ([`ConnectionHold`]): after the inbound handshake, the handshake
//!   permit is exchanged for a `max_connections` slot (`on_limit = "wait"` waits for one,
//!   `"refuse"` closes the connection). Client-mode listeners (plain TCP in) have no
//!   handshake phase: they take the slot before `accept` (`wait`) or right after (`refuse`).
//!
//! The hold also carries the drain guard (SIGTERM waits for it) and keeps
//! `mtlsd_active_connections` up; it is dropped with the last owner of the connection: the
//! connection task, or in gateway mode an upgraded stream or CONNECT tunnel that outlives
//! it (the gateway parks the hold in the tenant connection's state).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mtls_config::{ListenerMode, OnLimit, ProxyLimits};
use mtls_metrics::ReasonLabel;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::state::ListenerState;
use crate::tracker::TrackerGuard;

/// Why a connection was closed before its handshake (the `reason` label of
/// `mtlsd_handshakes_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandshakeRefusal {
    /// `max_handshakes` handshakes were in progress (`on_limit = "refuse"`).
    Listener,
    /// `max_handshakes_per_source` handshakes from the same source were in progress.
    Source,
}

// === impl HandshakeRefusal ===

impl HandshakeRefusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Listener => "max_handshakes",
            Self::Source => "max_handshakes_per_source",
        }
    }
}

/// The admission state of one listener: its semaphores, the per-source table, counters.
pub(crate) struct Gate {
    limits: ProxyLimits,
    /// Whether connections start with an inbound TLS handshake (all modes but client).
    inbound_tls: bool,
    handshakes: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    sources: Arc<SourceCounts>,
    refused_listener: Counter,
    refused_source: Counter,
    log: Throttle,
    /// Rate limit of the "max_connections reached" line (shared with [`Handshaking`]).
    full_log: Arc<Throttle>,
}

// === impl Gate ===

impl Gate {
    pub(crate) fn new(state: &ListenerState) -> Self {
        let limits = state.config.limits;
        let counter = |refusal: HandshakeRefusal| {
            state
                .metrics
                .handshakes_refused
                .get_or_create(&ReasonLabel {
                    listener: state.handles.name.clone(),
                    reason: refusal.as_str(),
                })
                .clone()
        };
        let refused_listener = counter(HandshakeRefusal::Listener);
        let refused_source = counter(HandshakeRefusal::Source);
        Self {
            limits,
            inbound_tls: !matches!(state.config.mode, ListenerMode::Client { .. }),
            handshakes: Arc::new(Semaphore::new(limits.max_handshakes.get())),
            connections: Arc::new(Semaphore::new(limits.max_connections.get())),
            sources: Arc::new(SourceCounts::new(limits.max_handshakes_per_source.get())),
            refused_listener,
            refused_source,
            log: Throttle::new(Duration::from_secs(1)),
            full_log: Arc::new(Throttle::new(Duration::from_secs(1))),
        }
    }

    /// Counts and (at most once a second) logs a connection refused because the listener
    /// has no free `max_connections` slot in `refuse` mode.
    pub(crate) fn refused_full(&self, state: &ListenerState, peer: SocketAddr) {
        refused_full(state, peer, &self.full_log);
    }

    /// In `on_limit = "wait"` mode, waits before `accept` for what the next connection needs
    /// first (so excess clients queue in the kernel backlog): a handshake permit, or for a
    /// listener without inbound TLS (client mode) its `max_connections` slot. `None` in
    /// `refuse` mode (taken after `accept` then).
    pub(crate) async fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        match self.limits.on_limit {
            OnLimit::Refuse => None,
            _ if self.inbound_tls => self.handshakes.clone().acquire_owned().await.ok(),
            _ => self.connections.clone().acquire_owned().await.ok(),
        }
    }

    /// Whether a `max_connections` slot is free now (checked before a handshake in `refuse`
    /// mode, so a full listener refuses without spending a handshake).
    pub(crate) fn has_free_slot(&self) -> bool {
        self.connections.available_permits() > 0
    }

    /// Starts the handshake phase of the connection from `peer` accepted with `reserved`
    /// (from [`Gate::reserve`]), or says why it must be closed at once. Without inbound TLS
    /// there is no handshake phase: the handshake caps do not apply.
    pub(crate) fn admit(
        &self,
        state: &ListenerState,
        peer: SocketAddr,
        reserved: Option<OwnedSemaphorePermit>,
    ) -> Result<Handshaking, HandshakeRefusal> {
        let mut handshaking = Handshaking {
            permit: None,
            source: None,
            slot: None,
            connections: self.connections.clone(),
            on_limit: self.limits.on_limit,
            full_log: self.full_log.clone(),
        };
        if !self.inbound_tls {
            // `None` in refuse mode: `established` tries (and refuses) then.
            handshaking.slot = reserved;
            return Ok(handshaking);
        }
        let permit = match reserved {
            Some(p) => p,
            None => self
                .handshakes
                .clone()
                .try_acquire_owned()
                .map_err(|_| self.refused(state, peer, HandshakeRefusal::Listener))?,
        };
        let source = self
            .sources
            .enter(peer.ip())
            .ok_or_else(|| self.refused(state, peer, HandshakeRefusal::Source))?;
        handshaking.permit = Some(permit);
        handshaking.source = Some(source);
        Ok(handshaking)
    }

    fn refused(
        &self,
        state: &ListenerState,
        peer: SocketAddr,
        refusal: HandshakeRefusal,
    ) -> HandshakeRefusal {
        match refusal {
            HandshakeRefusal::Listener => self.refused_listener.inc(),
            HandshakeRefusal::Source => self.refused_source.inc(),
        };
        // A flood must not turn into a flood of log lines: one per second at most.
        if let Some(suppressed) = self.log.allow(Instant::now()) {
            let (limit, value) = match refusal {
                HandshakeRefusal::Listener => ("max_handshakes", self.limits.max_handshakes),
                HandshakeRefusal::Source => (
                    "max_handshakes_per_source",
                    self.limits.max_handshakes_per_source,
                ),
            };
            info!(
                listener = state.name(), %peer, reason = refusal.as_str(), limit, value = value.get(),
                suppressed, "connection closed before its handshake: handshake cap reached"
            );
        }
        refusal
    }
}

/// A connection in its handshake phase: a handshake permit and its source's count (or,
/// without inbound TLS, the slot reserved before `accept`).
pub(crate) struct Handshaking {
    permit: Option<OwnedSemaphorePermit>,
    source: Option<SourceGuard>,
    slot: Option<OwnedSemaphorePermit>,
    connections: Arc<Semaphore>,
    on_limit: OnLimit,
    full_log: Arc<Throttle>,
}

/// `mtlsd_connections_refused_total`, and one log line per second at most (with the number
/// held back since): a flood against a full listener must not become a flood of log lines.
fn refused_full(state: &ListenerState, peer: SocketAddr, log: &Throttle) {
    state.handles.connections_refused.inc();
    if let Some(suppressed) = log.allow(Instant::now()) {
        warn!(
            listener = state.name(), %peer, max_connections = state.config.limits.max_connections.get(),
            suppressed, "connection refused: max_connections reached"
        );
    }
}

// === impl Handshaking ===

impl Handshaking {
    /// Ends the handshake phase: takes a `max_connections` slot into `hold`. In `wait` mode
    /// it waits for one, still holding the handshake permit (so the accept loop slows down
    /// too) but no longer its source's count (the handshake is done: an authenticated
    /// client waiting for a slot is not an unfinished handshake). `None` means the listener
    /// is full in `refuse` mode (counted and logged).
    pub(crate) async fn established(
        mut self,
        mut hold: ConnectionHold,
        peer: SocketAddr,
    ) -> Option<ConnectionHold> {
        drop(self.source.take());
        let slot = match (self.slot.take(), self.on_limit) {
            (Some(slot), _) => Some(slot),
            (None, OnLimit::Refuse) => self.connections.clone().try_acquire_owned().ok(),
            (None, _) => self.connections.clone().acquire_owned().await.ok(),
        };
        drop(self.permit.take());
        let Some(slot) = slot else {
            refused_full(&hold.state, peer, &self.full_log);
            return None;
        };
        hold.slot = Some(slot);
        Some(hold)
    }
}

/// One accepted connection's hold on the listener: the drain guard, the
/// `mtlsd_active_connections` count and, once established, its `max_connections` slot.
/// Dropping it releases all three and records the connection's duration.
pub(crate) struct ConnectionHold {
    state: Arc<ListenerState>,
    slot: Option<OwnedSemaphorePermit>,
    _drain: TrackerGuard,
    started: Instant,
}

// === impl ConnectionHold ===

impl ConnectionHold {
    pub(crate) fn new(state: Arc<ListenerState>, drain: TrackerGuard) -> Self {
        state.handles.connections.inc();
        state.handles.active_connections.inc();
        Self {
            state,
            slot: None,
            _drain: drain,
            started: Instant::now(),
        }
    }

    /// When the connection was accepted.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }
}

impl Drop for ConnectionHold {
    fn drop(&mut self) {
        let handles = &self.state.handles;
        handles.active_connections.dec();
        handles
            .connection_duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Handshakes in progress per source, bounded: an entry exists only while its count is
/// above zero, and every count is a held handshake permit, so the table never holds more
/// than `max_handshakes` entries. The lock is held for one hash-map update.
struct SourceCounts {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One handshake counted against its source; dropping it gives the count back.
struct SourceGuard {
    counts: Arc<SourceCounts>,
    key: IpAddr,
}

// === impl SourceCounts ===

impl SourceCounts {
    fn new(max: usize) -> Self {
        Self {
            max,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more handshake from `ip`, unless its source is at the cap.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<SourceGuard> {
        let key = source_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SourceGuard {
            counts: self.clone(),
            key,
        })
    }

    #[cfg(test)]
    fn sources(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

// === impl SourceGuard ===

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The source a handshake is counted against: the IPv4 address (an IPv4-mapped IPv6
/// address counts as its IPv4 address), or the IPv6 /64 (one subscriber's usual prefix).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Lets one event through per `every`; reports how many were held back since.
struct Throttle {
    every_ms: u64,
    origin: Instant,
    /// Milliseconds from `origin` of the last event let through (`u64::MAX`: none yet).
    last: AtomicU64,
    suppressed: AtomicU64,
}

// === impl Throttle ===

impl Throttle {
    fn new(every: Duration) -> Self {
        Self {
            every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            origin: Instant::now(),
            last: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last one)` when an event at `now` may be logged.
    fn allow(&self, now: Instant) -> Option<u64> {
        let now = u64::try_from(now.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX - 1);
        let last = self.last.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= self.every_ms;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::AcqRel);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_capped_and_forgotten_at_zero() {
        let counts = Arc::new(SourceCounts::new(2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = counts.enter(a).unwrap();
        let second = counts.enter(a).unwrap();
        assert!(counts.enter(a).is_none(), "a third handshake from a");
        let other = counts.enter(b).expect("another source is not affected");
        assert_eq!(counts.sources(), 2);
        drop(first);
        let again = counts.enter(a).expect("a slot of a came back");
        drop((second, again, other));
        assert_eq!(counts.sources(), 0, "entries go when their count is zero");
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7".parse::<IpAddr>().unwrap());

        let counts = Arc::new(SourceCounts::new(1));
        let _held = counts.enter("2001:db8::1".parse().unwrap()).unwrap();
        assert!(
            counts.enter("2001:db8::ffff".parse().unwrap()).is_none(),
            "same /64"
        );
    }

    #[test]
    fn the_throttle_lets_one_event_through_per_period() {
        let throttle = Throttle::new(Duration::from_secs(1));
        let t0 = throttle.origin;
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(throttle.allow(at(0)), Some(0));
        assert_eq!(throttle.allow(at(10)), None);
        assert_eq!(throttle.allow(at(999)), None);
        assert_eq!(throttle.allow(at(1001)), Some(2), "two were held back");
        assert_eq!(throttle.allow(at(1500)), None);
        assert_eq!(throttle.allow(at(2001)), Some(1));
    }
}
