//! The mtlsd under test: its config (one gateway listener on a loopback port the OS picks),
//! the process, its start-up time and its memory from `/proc`.
//!
//! Start-up is measured from spawn to the `ready` line mtlsd prints on stdout once every
//! listener is bound, which a gateway listener is only after it has read the registry and
//! compiled its first view: so it covers the registry open, the full snapshot read and the
//! route-table compile (plus the process start and config load, a few ms).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::ScaleError;

/// The longest mtlsd may take to print `ready`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);

/// How often the memory guard samples the RSS.
pub const GUARD_EVERY: Duration = Duration::from_millis(100);

/// A running mtlsd; killed when dropped.
pub struct Gateway {
    child: Child,
    /// The gateway listener's address.
    pub addr: SocketAddr,
    /// Spawn to `ready`.
    pub startup: Duration,
    guard: Guard,
}

/// Kills mtlsd when its RSS goes over a limit (so that a gateway that does not fit does
/// not take a shared machine down with it): a thread samples it every [`GUARD_EVERY`]
/// until the process is gone.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The RSS (KiB) it was killed at, 0 while it was not.
    tripped_kib: Arc<AtomicU64>,
    /// When it was killed, ms after spawn.
    tripped_ms: Arc<AtomicU64>,
}

/// mtlsd killed by the [`Guard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tripped {
    /// Its RSS then, KiB.
    pub rss_kib: u64,
    /// How long after spawn.
    pub after: Duration,
}

// === impl Guard ===

impl Guard {
    fn start(pid: u32, limit_kib: u64, spawned: Instant) -> Self {
        let guard = Self {
            tripped_kib: Arc::new(AtomicU64::new(0)),
            tripped_ms: Arc::new(AtomicU64::new(0)),
        };
        let g = guard.clone();
        std::thread::spawn(move || {
            let status = format!("/proc/{pid}/status");
            // Ends when the process is gone (no status, or a zombie's without VmRSS).
            while let Some(memory) = std::fs::read_to_string(&status)
                .ok()
                .and_then(|s| parse_memory(&s))
            {
                if memory.rss_kib > limit_kib {
                    let ms = u64::try_from(spawned.elapsed().as_millis()).unwrap_or(u64::MAX);
                    g.tripped_ms.store(ms, Ordering::SeqCst);
                    g.tripped_kib.store(memory.rss_kib, Ordering::SeqCst);
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    return;
                }
                std::thread::sleep(GUARD_EVERY);
            }
        });
        guard
    }

    /// Whether (and when) it killed mtlsd.
    pub fn tripped(&self) -> Option<Tripped> {
        match self.tripped_kib.load(Ordering::SeqCst) {
            0 => None,
            rss_kib => Some(Tripped {
                rss_kib,
                after: Duration::from_millis(self.tripped_ms.load(Ordering::SeqCst)),
            }),
        }
    }
}

/// Resident memory of a process (`/proc/PID/status`), KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak since start (or since the last [`Gateway::reset_peak`]).
    pub peak_kib: u64,
}

/// The config and log file names of replica `i` (0-based): `mtlsd.toml` and `mtlsd.log`
/// for the first (the only one on SQLite), `mtlsd-2.toml`, `mtlsd-2.log`, ... after it.
pub fn replica_files(i: usize) -> (String, String) {
    match i {
        0 => ("mtlsd.toml".into(), "mtlsd.log".into()),
        _ => (
            format!("mtlsd-{}.toml", i + 1),
            format!("mtlsd-{}.log", i + 1),
        ),
    }
}

/// Writes replica `i`'s config in `work` ([`replica_files`]): the PostgreSQL `registry`
/// if given (a top-level key), the data dir, and one gateway listener on `127.0.0.1:0`
/// polling the registry every `poll_interval_ms`.
pub fn write_config(
    work: &Path,
    data_dir: &Path,
    registry: Option<&str>,
    i: usize,
    poll_interval_ms: u64,
) -> Result<PathBuf, ScaleError> {
    let path = work.join(replica_files(i).0);
    let registry = registry.map_or_else(String::new, |url| format!("registry = \"{url}\"\n"));
    let config = format!(
        "{registry}data_dir = \"{}\"\n\n[[listener]]\nname = \"gateway\"\nmode = \"gateway\"\n\
         listen = \"127.0.0.1:0\"\n\n[listener.gateway]\npoll_interval = \"{poll_interval_ms}ms\"\n",
        data_dir.display()
    );
    std::fs::write(&path, config)
        .map_err(|e| ScaleError::io(format!("write {}", path.display()), e))?;
    Ok(path)
}

// === impl Gateway ===

impl Gateway {
    /// Spawns `mtlsd --config config` (stderr, its log, to `log`) under a [`Guard`] of
    /// `max_rss_kib`, and waits for `ready`.
    pub fn start(
        mtlsd: &Path,
        config: &Path,
        log: &Path,
        max_rss_kib: u64,
    ) -> Result<Self, ScaleError> {
        let program = |problem: String| ScaleError::Program {
            program: mtlsd.to_owned(),
            problem,
        };
        let stderr = std::fs::File::create(log)
            .map_err(|e| ScaleError::io(format!("create {}", log.display()), e))?;
        let started = Instant::now();
        let mut child = Command::new(mtlsd)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| ScaleError::io(format!("start {}", mtlsd.display()), e))?;
        let guard = Guard::start(child.id(), max_rss_kib, started);
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads every line mtlsd prints, to its end, so that the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining.
                    continue;
                }
            }
        });
        let mut addr = None;
        let deadline = started + STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == "ready" => {
                    let startup = started.elapsed();
                    let addr =
                        addr.ok_or_else(|| program("printed ready but no gateway address".into()))?;
                    return Ok(Self {
                        child,
                        addr,
                        startup,
                        guard,
                    });
                }
                Ok(line) => {
                    if let Some(a) = parse_bound(&line) {
                        addr = Some(a);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    return Err(program(format!(
                        "not ready after {} s (log: {})",
                        STARTUP_TIMEOUT.as_secs(),
                        log.display()
                    )));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    if let Some(tripped) = guard.tripped() {
                        return Err(ScaleError::OverMemory {
                            during: "start-up",
                            rss_kib: tripped.rss_kib,
                            limit_kib: max_rss_kib,
                            after: tripped.after,
                        });
                    }
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(program(format!(
                        "exited before it was ready ({status}; log: {})",
                        log.display()
                    )));
                }
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether (and when) the guard killed it.
    pub fn tripped(&self) -> Option<Tripped> {
        self.guard.tripped()
    }

    /// Its memory now.
    pub fn memory(&self) -> Result<Memory, ScaleError> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path)
            .map_err(|e| ScaleError::io(format!("read {path}"), e))?;
        parse_memory(&status).ok_or_else(|| ScaleError::Run(format!("{path}: no VmRSS/VmHWM")))
    }

    /// Resets `VmHWM` to the current RSS (`5` into `/proc/PID/clear_refs`; Linux, same
    /// user). Returns whether it could.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of the `bound listener gateway ADDR` line (the listener is named `gateway`).
fn parse_bound(line: &str) -> Option<SocketAddr> {
    let mut words = line.split_whitespace();
    match (words.next()?, words.next()?, words.next()?, words.next()?) {
        ("bound", "listener", "gateway", addr) => addr.parse().ok(),
        _ => None,
    }
}

/// `VmRSS` and `VmHWM` of a `/proc/PID/status` file.
fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_lines_and_memory_are_parsed() {
        assert_eq!(
            parse_bound("bound listener gateway 127.0.0.1:4433"),
            Some("127.0.0.1:4433".parse().unwrap())
        );
        assert_eq!(parse_bound("bound listener other 127.0.0.1:1"), None);
        assert_eq!(parse_bound("bound control control 127.0.0.1:2"), None);
        assert_eq!(parse_bound("ready"), None);
        let status = "Name:\tmtlsd\nVmHWM:\t  9000 kB\nVmRSS:\t    4321 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss_kib: 4321,
                peak_kib: 9000
            })
        );
        assert_eq!(parse_memory("Name:\tx\n"), None);
    }

    #[test]
    fn the_config_has_one_loopback_gateway_listener() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), Path::new("/data"), None, 0, 50).unwrap();
        assert!(path.ends_with("mtlsd.toml"));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("registry"), "{text}");
        assert!(text.contains("data_dir = \"/data\""), "{text}");
        assert!(text.contains("mode = \"gateway\""), "{text}");
        assert!(text.contains("listen = \"127.0.0.1:0\""), "{text}");
        assert!(text.contains("poll_interval = \"50ms\""), "{text}");

        let url = "postgres://postgres@127.0.0.1:5999/scale";
        let path = write_config(dir.path(), Path::new("/data"), Some(url), 2, 50).unwrap();
        assert!(path.ends_with("mtlsd-3.toml"));
        let text = std::fs::read_to_string(path).unwrap();
        // A top-level key: before any table.
        assert!(
            text.starts_with(&format!("registry = \"{url}\"\n")),
            "{text}"
        );
        assert_eq!(replica_files(2).1, "mtlsd-3.log");
    }
}
