//! `tracing` setup from `[logging]`: lines are formatted on the thread that logs and written
//! to stderr by a dedicated writer thread, never by a runtime worker.
//!
//! The access log (an INFO line per connection and per request) is on by default, so its
//! cost is on the hot path: formatting a line is cheap, but a `write(2)` to stderr per line
//! (a pipe, a terminal or journald) is not, a slow reader would stall the runtime thread
//! doing it, and waking a writer thread per line costs context switches. [`init_logging`]
//! formats into a [`LogBuffer`]: lines gather in memory and one thread writes them out
//! every 100 ms (sooner once 64 KiB have gathered, and at once after a WARN or ERROR
//! line), in one `write(2)` each time.
//!
//! A full buffer (4 MiB waiting) drops lines rather than blocking: a proxy must never
//! stall on its log. What was dropped is counted ([`dropped_log_lines`], served as
//! `mtlsd_log_lines_dropped_total` on `/metrics`). The [`LogGuard`] writes out what waits
//! when dropped: `mtlsd` keeps it for the life of the process, so the lines of a shutdown
//! are written before it exits.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use mtls_config::{LogFormat, LoggingConfig};

use crate::log_writer::{LogBuffer, LogBufferGuard, LogBufferSettings};

/// The installed buffer, for its dropped-lines count.
static BUFFER: OnceLock<LogBuffer> = OnceLock::new();

/// Keeps the log writer thread alive; dropping it writes out every waiting line and stops
/// the thread. Hold it until the process exits.
#[must_use = "dropping the guard stops the log writer: keep it for the life of the process"]
pub struct LogGuard {
    _writer: LogBufferGuard,
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
/// `None` if a global subscriber was already installed (the existing one is kept) or the
/// writer thread could not be started (then nothing is installed).
pub fn init_logging(config: &LoggingConfig, filter: Option<&str>) -> Option<LogGuard> {
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(config.level.as_str()));
    let ansi = std::io::stderr().is_terminal();
    let (buffer, writer) =
        LogBuffer::start(std::io::stderr(), LogBufferSettings::default()).ok()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(buffer.clone())
        .with_target(false)
        .with_ansi(ansi);
    let installed = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
        _ => builder.try_init().is_ok(),
    };
    if !installed {
        return None;
    }
    let _ = BUFFER.set(buffer);
    Some(LogGuard { _writer: writer })
}

/// Log lines dropped so far because the buffer was full or stderr failed (0 before
/// [`init_logging`]).
pub fn dropped_log_lines() -> u64 {
    BUFFER.get().map_or(0, LogBuffer::dropped_lines)
}
