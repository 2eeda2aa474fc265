//! The background prober: an unrelated tenant's requests, all through the run, on one
//! kept-alive connection (a `GET` every [`KEEP_ALIVE_EVERY`]) and on new connections (a
//! handshake and a `GET` every [`HANDSHAKE_EVERY`]), each timed and filed under the phase
//! it started in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::probe::{Answer, Client};
use crate::setup::BACKGROUND_HOST;

/// Pause between two requests on the kept-alive connection.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_millis(5);
/// Pause between two new connections.
pub const HANDSHAKE_EVERY: Duration = Duration::from_millis(25);
/// The most samples one loop keeps (hours of requests; a bound, not a limit in practice).
const MAX_SAMPLES: usize = 2_000_000;

/// Which part of the run a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Not measured (connections warming up).
    Warmup = 0,
    /// Before the changes.
    Baseline = 1,
    /// While the changes are made.
    Changes = 2,
    /// Stop.
    Stop = 3,
}

/// The phase, shared with the loops.
#[derive(Debug, Clone, Default)]
pub struct PhaseCell(Arc<AtomicU8>);

// === impl PhaseCell ===

impl PhaseCell {
    /// Moves every loop to `phase`.
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::SeqCst);
    }

    fn get(&self) -> Phase {
        match self.0.load(Ordering::SeqCst) {
            0 => Phase::Warmup,
            1 => Phase::Baseline,
            2 => Phase::Changes,
            _ => Phase::Stop,
        }
    }
}

/// What one loop saw, per measured phase.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Latencies of the 2xx answers before the changes.
    pub baseline: Vec<Duration>,
    /// Latencies of the 2xx answers during the changes.
    pub changes: Vec<Duration>,
    /// Requests that got no 2xx before the changes.
    pub baseline_errors: u64,
    /// Requests that got no 2xx during the changes.
    pub changes_errors: u64,
}

// === impl Samples ===

impl Samples {
    fn record(&mut self, phase: Phase, took: Duration, ok: bool) {
        if self.baseline.len() + self.changes.len() >= MAX_SAMPLES {
            return;
        }
        match (phase, ok) {
            (Phase::Baseline, true) => self.baseline.push(took),
            (Phase::Baseline, false) => self.baseline_errors += 1,
            (Phase::Changes, true) => self.changes.push(took),
            (Phase::Changes, false) => self.changes_errors += 1,
            _ => {}
        }
    }
}

/// The two loops, running until the phase is [`Phase::Stop`] or `until`.
pub struct Prober {
    /// Requests on the kept-alive connection.
    pub keep_alive: JoinHandle<Samples>,
    /// New connections.
    pub handshakes: JoinHandle<Samples>,
}

/// Starts both loops for `client`.
pub fn start(client: Client, phase: PhaseCell, until: Instant) -> Prober {
    let keep_alive = {
        let (client, phase) = (client.clone(), phase.clone());
        tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut conn = None;
            while phase.get() != Phase::Stop && Instant::now() < until {
                let now = phase.get();
                let started = Instant::now();
                if conn.as_ref().is_none_or(crate::probe::KeepAlive::is_closed) {
                    conn = client.keep_alive().await.ok();
                }
                let answer = match conn.as_mut() {
                    Some(c) => c.get(BACKGROUND_HOST).await,
                    None => Answer::Failed("cannot connect".into()),
                };
                if matches!(answer, Answer::Failed(_)) {
                    conn = None;
                }
                samples.record(now, started.elapsed(), answer.is_success());
                tokio::time::sleep(KEEP_ALIVE_EVERY).await;
            }
            samples
        })
    };
    let handshakes = tokio::spawn(async move {
        let mut samples = Samples::default();
        while phase.get() != Phase::Stop && Instant::now() < until {
            let now = phase.get();
            let started = Instant::now();
            let answer = client.fresh_get(BACKGROUND_HOST).await;
            samples.record(now, started.elapsed(), answer.is_success());
            tokio::time::sleep(HANDSHAKE_EVERY).await;
        }
        samples
    });
    Prober {
        keep_alive,
        handshakes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_filed_by_phase() {
        let mut s = Samples::default();
        let ms = Duration::from_millis;
        s.record(Phase::Warmup, ms(50), true);
        s.record(Phase::Baseline, ms(1), true);
        s.record(Phase::Baseline, ms(1), false);
        s.record(Phase::Changes, ms(2), true);
        s.record(Phase::Changes, ms(9), false);
        assert_eq!(s.baseline, [ms(1)]);
        assert_eq!(s.changes, [ms(2)]);
        assert_eq!((s.baseline_errors, s.changes_errors), (1, 1));
        let cell = PhaseCell::default();
        assert_eq!(cell.get(), Phase::Warmup);
        cell.set(Phase::Changes);
        assert_eq!(cell.get(), Phase::Changes);
    }
}
