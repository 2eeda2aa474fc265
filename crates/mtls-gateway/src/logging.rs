//! `tracing` setup from `[logging]`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use mtls_config::{LogFormat, LoggingConfig};

/// Installs the global subscriber: lines on stderr, text or JSON, at the configured level.
///
/// Precedence: `filter` (a full `tracing` filter such as `mtls_gateway=debug,info`; `mtlsd`
/// passes `MTLS_LOG`) over `logging.level`; a filter that does not parse is ignored. Returns
/// `false` if a global subscriber was already installed (the existing one is kept).
pub fn init_logging(config: &LoggingConfig, filter: Option<&str>) -> bool {
    let filter = filter
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
