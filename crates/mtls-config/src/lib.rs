//! The `mtlsd` config file: TOML text → a validated, typed [`Config`].
//!
//! This crate owns the file format and nothing else: it is sync, reads no environment
//! variable and opens no file but the config itself ([`Config::load`]); TLS material is only
//! named here (paths), loaded by the runtime (`mtls-gateway`) or by `mtlsd --check`. A
//! service that embeds the gateway can build and check a [`Config`] without a tokio runtime.
//!
//! # Example
//!
//! ```
//! use mtls_config::{Config, Defaults, ListenerMode};
//!
//! let text = r#"
//! [[listener]]
//! name = "api"
//! mode = "server"
//! listen = "127.0.0.1:8443"
//! target = "127.0.0.1:8080"
//!
//! [listener.tls]
//! cert = "server.pem"
//! key = "server-key.pem"
//! ca = "ca.pem"
//!
//! [listener.acl]
//! allow_uri = ["spiffe://example.test/tenant/*"]
//! "#;
//! let config = Config::from_toml(text, "/etc/mtlsd/mtlsd.toml")?;
//! let api = &config.listeners()[0];
//! assert!(matches!(api.mode, ListenerMode::Server { .. }));
//! assert_eq!(api.limits.idle_timeout.as_secs(), 90);
//!
//! // Every problem is reported, with the listener and the field.
//! let err = Config::from_toml(&text.replace("8080", "x").replace("server\"", "sideways\""), "m.toml")
//!     .unwrap_err();
//! assert_eq!(err.problems().len(), 2);
//! assert!(err.to_string().contains("listener \"api\": `target`"));
//!
//! // A client-mode listener with two identities, chosen by the CA names the upstream sends.
//! let text = r#"
//! [[listener]]
//! name = "partners"
//! mode = "client"
//! listen = "127.0.0.1:9080"
//! target = "api.acme.test:443"
//!
//! [listener.tls]
//! ca = "upstream-ca.pem"
//! fallback = "none"
//!
//! [[listener.tls.identities]]
//! name = "acme"
//! cert = "acme.pem"
//! key = "acme-key.pem"
//!
//! [[listener.tls.identities]]
//! name = "globex"
//! cert = "globex.pem"
//! key = "globex-key.pem"
//! "#;
//! let config = Config::from_toml(text, "/etc/mtlsd/mtlsd.toml")?;
//! let ListenerMode::Client { tls } = &config.listeners()[0].mode else { unreachable!() };
//! assert_eq!(tls.identities[1].name, "globex");
//! assert_eq!(tls.identities[1].cert.to_str(), Some("/etc/mtlsd/globex.pem"));
//!
//! // A gateway: TLS material and the registry come from the data dir. The binary passes in
//! // the data dir it read from the environment (`MTLS_DATA_DIR`); the file wins over it.
//! let text = r#"
//! [[listener]]
//! name = "tenants"
//! mode = "gateway"
//! listen = "0.0.0.0:8443"
//!
//! [listener.gateway]
//! poll_interval = "200ms"
//! protocol = "auto"
//!
//! ## Routes with `upstream_tls.identity = "partner"` present this certificate upstream.
//! [[listener.gateway.identities]]
//! name = "partner"
//! cert = "partner.pem"
//! key = "partner-key.pem"
//! "#;
//! let defaults = Defaults::default().with_data_dir(Some("/var/lib/mtls"));
//! let config = Config::from_toml_with(text, "/etc/mtlsd/mtlsd.toml", &defaults)?;
//! assert_eq!(config.registry_path().to_str(), Some("/var/lib/mtls/registry.db"));
//! let ListenerMode::Gateway { tls, gateway, identities } = &config.listeners()[0].mode else {
//!     unreachable!()
//! };
//! assert_eq!(tls.cert.to_str(), Some("/var/lib/mtls/server/cert.pem"));
//! assert_eq!(gateway.poll_interval.as_millis(), 200);
//! assert_eq!(identities[0].name, "partner");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The file
//!
//! Two layers: a private serde mirror of the file (`deny_unknown_fields`, every key optional);
//! [`Config`] is the validated result, whose types cannot hold a bad state. Validation
//! collects every problem (naming the listener and the dotted field) before failing.
//!
//! Precedence: values in the file, then the caller's [`Defaults`] (which `mtlsd` fills from
//! its environment), then the built-in defaults below. Relative paths (certificates, keys,
//! CAs, the data dir) are resolved against the directory of the config file.
//!
//! | key | default |
//! |---|---|
//! | `listener.tls.client_auth` | `required` |
//! | `listener.tls.min_version`, `listener.upstream_tls.min_version` | `1.2` |
//! | `listener.*tls.server_name` | the target host |
//! | `listener.proxy.dial_timeout` / `handshake_timeout` / `idle_timeout` | `10s` / `10s` / `90s` |
//! | `listener.proxy.max_connections` / `on_limit` | `1000` / `wait` |
//! | `listener.proxy.max_handshakes` / `max_handshakes_per_source` | `256` / `32` (at most `max_handshakes`) |
//! | `health.enabled` / `health.listen` | `false` / `127.0.0.1:9000` |
//! | `metrics.enabled` / `metrics.listen` | `false` / `127.0.0.1:9001` |
//! | `logging.level` / `logging.format` | `info` / `text` |
//! | `shutdown.drain_timeout` | `30s` |
//! | `reload.watch` / `reload.debounce` | `true` / `500ms` |
//! | `listener.tls.fallback`, `listener.upstream_tls.fallback` | `first` |
//! | `data_dir` | [`Defaults::data_dir`], else `./mtlsd-data` (relative to the config file) |
//! | `registry` | [`Defaults::registry`], else the SQLite file `<data_dir>/registry.db`; a `postgres://` (or `postgresql://`) URL names a PostgreSQL registry shared by several gateways |
//! | gateway `listener.tls.cert` / `key` / `ca` | `<data_dir>/server/cert.pem` / `server/key.pem` / `ca.pem` |
//! | `listener.gateway.poll_interval` | `250ms` (at most `1s`) |
//! | `listener.gateway.max_header_bytes` | `65536` (8 KiB to 16 MiB) |
//! | `listener.gateway.request_timeout` | `30s` (request head read; default upstream timeout) |
//! | `listener.gateway.protocol` | `auto` |
//! | `listener.gateway.tenant_max_connections` | `1024` (tenants whose registry limits set none) |
//! | `listener.gateway.registry_staleness` | `30s` (at least twice `poll_interval`; then `/readyz` is 503) |
//!
//! # The control-plane API (`[control]`)
//!
//! A top-level `[control]` section starts the control-plane API over mTLS (see the
//! `mtls-control` crate). `listen` is required; with `[control]` present, no
//! `[[listener]]` is needed (a control-only daemon). Client certificates are optional at
//! the TLS layer (enrollment and the CRL need none) and verified against `ca` when sent.
//!
//! | key | default |
//! |---|---|
//! | `control.listen` | `"127.0.0.1:8444"` (loopback; a non-loopback address serves remote callers) |
//! | `control.cert` / `key` / `ca` | `<data_dir>/server/cert.pem` / `server/key.pem` / `ca.pem` |
//! | `control.cert_validity` | `30d` (1 s to 825 days) |
//! | `control.recovery_window` | `30d` (`"0s"` disables expired-certificate recovery) |
//! | `control.max_recoveries` | `3` (0 to 100) |
//! | `control.max_body_bytes` | `65536` (1 KiB to 16 MiB) |
//! | `control.max_connections` | `256` (1 to 65536; more are closed at accept) |
//! | `control.handshake_timeout` | `10s` |
//! | `control.rate_limits.enroll_per_ip_per_minute` / `enroll_per_ip_burst` | `10` / `5` |
//! | `control.rate_limits.renew_per_ip_per_minute` / `renew_per_ip_burst` | `10` / `5` |
//! | `control.rate_limits.renew_per_tenant_per_hour` / `renew_per_tenant_burst` | `6` / `3` |
//! | `control.rate_limits.anonymous_audit_per_ip_per_minute` / `anonymous_audit_per_ip_burst` | `60` / `60` (audit events for unauthenticated calls; beyond: counted and logged) |
//!
//! ```
//! let text = r#"
//! [control]
//! listen = "127.0.0.1:8444"
//! recovery_window = "7d"
//!
//! [control.rate_limits]
//! enroll_per_ip_per_minute = 30
//! "#;
//! let defaults = mtls_config::Defaults::default().with_data_dir(Some("/var/lib/mtls"));
//! let config = mtls_config::Config::from_toml_with(text, "/etc/mtlsd/mtlsd.toml", &defaults)?;
//! let control = config.control().unwrap();
//! assert_eq!(control.listen.port(), 8444);
//! assert_eq!(control.ca.to_str(), Some("/var/lib/mtls/ca.pem"));
//! assert_eq!(control.recovery_window.as_secs(), 7 * 86400);
//! assert_eq!(control.enroll_per_ip.count, 30);
//! assert_eq!(control.renew_per_tenant.burst, 3);
//!
//! let err = mtls_config::Config::from_toml("[control]\nmax_recoveries = -1", "m.toml").unwrap_err();
//! assert!(err.to_string().contains("`control.max_recoveries`"));
//!
//! // Without `listen`, the API listens on loopback only.
//! let config = mtls_config::Config::from_toml_with("[control]\n", "/etc/mtlsd/mtlsd.toml", &defaults)?;
//! assert_eq!(config.control().unwrap().listen.to_string(), "127.0.0.1:8444");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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

/// Defaults that come from outside the file: the binary reads them (from its environment or
/// its command line) and passes them in, so this crate never reads the environment itself.
/// A value in the file always wins over these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Defaults {
    /// The data dir when the file has no `data_dir` (`mtlsd` passes `MTLS_DATA_DIR`). An empty
    /// path counts as unset. Relative paths resolve against the config file's folder.
    pub data_dir: Option<PathBuf>,
    /// The registry when the file has no `registry` (`mtlsd` passes `MTLS_REGISTRY`): a
    /// `postgres://` URL. An empty string counts as unset.
    pub registry: Option<String>,
}

// === impl Defaults ===

impl Defaults {
    /// These defaults with `data_dir` set (`None` or an empty path leaves it unset).
    pub fn with_data_dir(mut self, data_dir: Option<impl Into<PathBuf>>) -> Self {
        self.data_dir = data_dir.map(Into::into);
        self
    }

    /// These defaults with `registry` set (`None` or an empty string leaves it unset).
    pub fn with_registry(mut self, registry: Option<impl Into<String>>) -> Self {
        self.registry = registry.map(Into::into);
        self
    }
}

pub use error::{ConfigError, Problem};
pub use mtls_resolver::{Fallback, SelectionPolicy, ServerNamePattern};
pub use types::{
    ClientTlsConfig, Config, ControlConfig, ControlRateLimit, GatewayProtocol, GatewaySettings,
    IdentityConfig, ListenerConfig, ListenerMode, LogFormat, LogLevel, LoggingConfig, OnLimit,
    ProxyLimits, Registry, RegistryUrl, ReloadConfig, SINGLE_IDENTITY_NAME, ServerTlsConfig,
    Target,
};

// === impl Config ===

impl Config {
    /// Reads and validates the config file at `path`, with no outside [`Defaults`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::load_with(path, &Defaults::default())
    }

    /// Reads and validates the config file at `path`; `defaults` fill what the file leaves out.
    pub fn load_with(path: impl AsRef<Path>, defaults: &Defaults) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_with(&text, path, defaults)
    }

    /// Validates config text as if it had been read from `path` (used for messages and to
    /// resolve relative paths; the file itself is not read), with no outside [`Defaults`].
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_toml_with(text, path, &Defaults::default())
    }

    /// Like [`from_toml`](Self::from_toml); `defaults` fill what the file leaves out.
    pub fn from_toml_with(
        text: &str,
        path: impl AsRef<Path>,
        defaults: &Defaults,
    ) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        validate::validate(raw, path, &base, defaults)
    }
}

#[cfg(test)]
mod tests;
