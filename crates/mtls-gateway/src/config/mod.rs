//! The `mtlsd` config file: TOML, read once at start and validated whole.
//!
//! Two layers: a private serde mirror of the file (`deny_unknown_fields`, every key optional);
//! [`Config`] is the validated result, whose types cannot hold a bad state. Validation
//! collects every problem (naming the listener and the dotted field) before failing.
//!
//! Precedence: values in the file, then the defaults below. Relative paths (certificates,
//! keys, CAs) are resolved against the directory of the config file.
//!
//! | key | default |
//! |---|---|
//! | `listener.tls.client_auth` | `required` |
//! | `listener.tls.min_version`, `listener.upstream_tls.min_version` | `1.2` |
//! | `listener.*tls.server_name` | the target host |
//! | `listener.proxy.dial_timeout` / `handshake_timeout` / `idle_timeout` | `10s` / `10s` / `90s` |
//! | `listener.proxy.max_connections` / `on_limit` | `1000` / `wait` |
//! | `health.enabled` / `health.listen` | `false` / `127.0.0.1:9000` |
//! | `metrics.enabled` / `metrics.listen` | `false` / `127.0.0.1:9001` |
//! | `logging.level` / `logging.format` | `info` / `text` |
//! | `shutdown.drain_timeout` | `30s` |
//! | `reload.watch` / `reload.debounce` | `true` / `500ms` |
//! | `listener.tls.fallback`, `listener.upstream_tls.fallback` | `first` |
//! | `data_dir` | `$MTLS_DATA_DIR`, else `./mtlsd-data` (relative to the config file) |
//! | gateway `listener.tls.cert` / `key` / `ca` | `<data_dir>/server/cert.pem` / `server/key.pem` / `ca.pem` |
//! | `listener.gateway.poll_interval` | `250ms` (at most `1s`) |
//! | `listener.gateway.max_header_bytes` | `65536` (8 KiB to 16 MiB) |
//! | `listener.gateway.request_timeout` | `30s` (request head read; default upstream timeout) |
//! | `listener.gateway.protocol` | `auto` |
//!
//! # Gateway listeners
//!
//! `mode = "gateway"` takes no `target` (each tenant's routes decide) and requires client
//! certificates (`client_auth = "required"`, the default). `protocol` picks how a connection
//! is served: `http` (HTTP/1.1 and h2 reverse proxy plus CONNECT), `tcp` (route by TLS SNI and
//! splice), or `auto`: ALPN `h2`/`http/1.1` means HTTP; otherwise TCP when the tenant has a
//! TCP route for the SNI, else HTTP. The listener offers ALPN `h2` and `http/1.1`, so a
//! client offering only other protocols fails the handshake (`no_application_protocol`).
//!
//! # Client identities (outbound TLS side)
//!
//! Client mode's `[listener.tls]` and bridge mode's `[listener.upstream_tls]` take either one
//! identity (`cert` + `key`, named [`SINGLE_IDENTITY_NAME`]) or several
//! `[[…identities]]` tables (`name`, `cert`, `key`), never both. Configuration order is
//! priority order. With neither, the file is rejected: a client certificate is normally
//! expected, so sending none must be written out as `identities = []`.
//!
//! - `fallback`: what to send when no identity matches the CA names the upstream asks for
//!   (or it names none): `"first"` (first usable identity, the default), `"none"` (no
//!   certificate) or an identity name.
//! - `[[…prefer]]` (`server_name` = exact name or `*.parent`, `identity`): an identity to
//!   send for that server name before any CA matching. It is compared with the listener's
//!   `server_name`.
//!
//! Identity names are 1-64 letters, digits, `-`, `_`, `.`; they are unique per listener and
//! become the `identity` metric label, so `none` and `first` are reserved.

mod error;
mod raw;
mod types;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Problem};
pub use mtls_resolver::{Fallback, SelectionPolicy, ServerNamePattern};
pub use types::{
    ClientAuth, ClientTlsConfig, Config, GatewayProtocol, GatewaySettings, IdentityConfig,
    ListenerConfig, ListenerMode, LogFormat, LogLevel, LoggingConfig, OnLimit, ProxyLimits,
    ReloadConfig, SINGLE_IDENTITY_NAME, ServerTlsConfig, Target, TlsVersion,
};

// === impl Config ===

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Validates config text as if it had been read from `path` (used for messages and to
    /// resolve relative paths; the file itself is not read).
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        validate::validate(raw, path, &base)
    }
}

#[cfg(test)]
mod tests;
