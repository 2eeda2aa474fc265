//! `tracing` setup from `[logging]`: lines are formatted on the thread that logs and written
//! to stderr by a dedicated writer thread, never by a runtime worker.
//!
//! The access log (an INFO line per connection and per request) is on by default, so its
//! cost is on the hot path: formatting a line is cheap, but a `write(2)` to stderr per line
//! (a pipe, a terminal or journald) is not, and a slow reader would stall the runtime thread
//! doing it. [`init_logging`] hands lines to `tracing-appender`'s non-blocking writer: a
//! bounded queue of [`LOG_QUEUE_LINES`] lines drained by one thread, which writes them
//! through a buffer and flushes whenever the queue is empty (a line reaches stderr as soon
//! as the writer thread runs; under load, many lines leave in one `write(2)`).
//!
//! A full queue drops lines rather than blocking: a proxy must never stall on its log. What
//! was dropped is counted ([`dropped_log_lines`], served as
//! `mtlsd_log_lines_dropped_total` on `/metrics`). The [`LogGuard`] flushes the queue when
//! dropped: `mtlsd` keeps it for the life of the process, so the lines of a shutdown are
//! written before it exits.

use std::io::{BufWriter, IsTerminal};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use mtls_config::{LogFormat, LoggingConfig};

/// How many formatted lines may wait for the writer thread before new ones are dropped
/// (at ~200 bytes a line, about 3 MiB).
pub const LOG_QUEUE_LINES: usize = 16 * 1024;

/// The dropped-lines counter of the installed writer.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the log writer thread alive; dropping it writes out every queued line and stops
/// the thread. Hold it until the process exits.
#[must_use = "dropping the guard stops the log writer: keep it for the life of the process"]
pub struct LogGuard {
    _worker: WorkerGuard,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

/// Installs the global subscriber: lines on stderr, text or JSON, at the configured level,
/// written off the calling threads (see the module docs).
///
/// Precedence: `filter` (a full `tracing` filter such as `mtls_gateway=debug,info`; `mtlsd`
/// passes `MTLS_LOG`) over `logging.level`; a filter that does not parse is ignored. Returns
/// `None` if a global subscriber was already installed (the existing one is kept).
pub fn init_logging(config: &LoggingConfig, filter: Option<&str>) -> Option<LogGuard> {
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(config.level.as_str()));
    let ansi = std::io::stderr().is_terminal();
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("mtlsd-log")
        // The writer thread flushes whenever its queue is empty.
        .finish(BufWriter::new(std::io::stderr()));
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(ansi);
    let installed = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
        _ => builder.try_init().is_ok(),
    };
    if !installed {
        return None;
    }
    let _ = DROPPED.set(dropped);
    Some(LogGuard { _worker: worker })
}

/// Log lines dropped so far because the writer thread's queue was full (0 before
/// [`init_logging`]).
pub fn dropped_log_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}
