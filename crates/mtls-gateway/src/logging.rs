//! `tracing` setup from `[logging]`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

/// The environment variable that, when set, overrides `logging.level` with a full
/// `tracing` filter (e.g. `mtls_gateway=debug,info`).
pub const LOG_ENV: &str = "MTLSD_LOG";

/// Installs the global subscriber: lines on stderr, text or JSON, at the configured level.
///
/// Precedence: `MTLSD_LOG` (a `tracing` filter) over `logging.level`. Returns `false` if a
/// global subscriber was already installed (the existing one is kept).
pub fn init_logging(config: &LoggingConfig) -> bool {
    let filter = std::env::var(LOG_ENV)
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(config.level.as_str()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
        _ => builder.try_init().is_ok(),
    }
}
